//! Infinite Campus's OneRoster 1.2 endpoints over an [`OAuthClient`]: the token at
//! `POST /campus/oauth2/token?appName=…`, the rostering collections below
//! `/campus/api/ims/oneroster/rostering/v1p2`, paged by `limit` and `offset` until a
//! short page, filtered by `dateLastModified>'…'`.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::ACCEPT;
use serde_json::Value;

use super::config::OneRosterConfig;
use super::format;
use crate::config::Secret;
use crate::http::{Fetched, HttpError, HttpStats};
use crate::oauth::{Credentials, OAuthClient};
use crate::run::RunError;

pub const ROSTERING: &str = "campus/api/ims/oneroster/rostering/v1p2";

/// The client for `config`'s Campus server.
pub fn client(config: &OneRosterConfig) -> Result<OAuthClient, HttpError> {
    let root = config.common.base_url.trim_end_matches('/');
    let mut token_url =
        reqwest::Url::parse(&format!("{root}/campus/oauth2/token")).map_err(|error| {
            HttpError::BaseUrl {
                url: config.common.base_url.clone(),
                reason: error.to_string(),
            }
        })?;
    token_url
        .query_pairs_mut()
        .append_pair("appName", &config.app_name);
    let credentials = Credentials {
        token_url,
        client_id: config.client_id.clone(),
        client_secret: config
            .client_secret()
            .cloned()
            .unwrap_or_else(|| Secret::new(String::new())),
    };
    let headers = [(ACCEPT, "application/json".to_owned())];
    OAuthClient::new(
        &format!("{root}/{ROSTERING}"),
        &headers,
        credentials,
        config.common.http,
    )
}

/// The filter of records changed after `since`: `dateLastModified>'…'`.
pub fn changed_since(since: DateTime<Utc>) -> String {
    format!(
        "dateLastModified>'{}'",
        since.to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}

/// One page of `collection` from `offset`: the fetched answer and its records.
pub async fn page(
    http: &OAuthClient,
    collection: &str,
    filter: Option<&str>,
    limit: u32,
    offset: u64,
    stats: &mut HttpStats,
) -> Result<(Fetched, Vec<Value>), RunError> {
    let limit = limit.to_string();
    let offset = offset.to_string();
    let mut query = vec![("limit", limit.as_str()), ("offset", offset.as_str())];
    if let Some(filter) = filter {
        query.push(("filter", filter));
    }
    let url = http.url(collection, &query);
    let fetched = http.get(&url, stats).await?;
    let records = format::list(&fetched.json()?, collection).map_err(|reason| RunError::Shape {
        path: fetched.path.clone(),
        reason,
    })?;
    Ok((fetched, records))
}

/// `GET users/{id}`: one user, `None` when the server has none by that id.
pub async fn user(
    http: &OAuthClient,
    id: &str,
    stats: &mut HttpStats,
) -> Result<Option<Value>, RunError> {
    // An id that would leave the path names no user this request could reach.
    if id.is_empty() || id.contains(['/', '?', '#']) || id == ".." {
        return Ok(None);
    }
    let url = http.url(&format!("users/{id}"), &[]);
    let fetched = match http.get(&url, stats).await {
        Ok(fetched) => fetched,
        Err(RunError::Http(HttpError::Status { status: 404, .. })) => return Ok(None),
        Err(error) => return Err(error),
    };
    match fetched.json()? {
        Value::Object(mut object) => match object.remove("user") {
            Some(user @ Value::Object(_)) => Ok(Some(user)),
            Some(_) | None => Err(RunError::Shape {
                path: fetched.path,
                reason: "user is not an object".to_owned(),
            }),
        },
        _ => Err(RunError::Shape {
            path: fetched.path,
            reason: "expected a json object".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_quotes_a_utc_time() {
        let since = DateTime::parse_from_rfc3339("2024-09-01T10:00:00+02:00")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(
            changed_since(since),
            "dateLastModified>'2024-09-01T08:00:00.000Z'"
        );
    }
}
