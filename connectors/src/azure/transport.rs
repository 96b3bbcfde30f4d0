//! Azure DevOps' endpoints over the shared [`HttpClient`]: the WIQL query (a POST
//! that answers ids only), `workitemsbatch` (a POST of at most 200 ids), the team's
//! iterations and an item's revisions (paged by `$top` and `$skip`). Rate limits
//! (`429` with `Retry-After` and `X-RateLimit-*`) are the client's business.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName};
use serde_json::{Value, json};

use crate::config::AzureConfig;
use crate::http::{Fetched, HttpClient, HttpError, HttpStats, basic_auth};
use crate::run::RunError;

pub const API_VERSION: &str = "7.1";

/// The client for `config`'s organization: a personal access token goes as basic
/// auth with an empty user name.
pub fn client(config: &AzureConfig) -> Result<HttpClient, HttpError> {
    let headers = [
        (ACCEPT, "application/json".to_owned()),
        (CONTENT_TYPE, "application/json".to_owned()),
    ];
    let token: Vec<(HeaderName, String)> = config
        .common
        .token
        .iter()
        .map(|token| {
            // A personal access token goes with an empty user name.
            (AUTHORIZATION, basic_auth("", token.expose()))
        })
        .collect();
    HttpClient::new(
        &config.common.base_url,
        &headers,
        &token,
        config.common.http,
    )
}

/// The WIQL of a project's items changed at or after `since`, oldest change first
/// (`@project` is the project of the URL, so no name is quoted into it).
pub fn wiql(since: Option<DateTime<Utc>>) -> String {
    let head = "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project";
    let order = "ORDER BY [System.ChangedDate] ASC";
    match since {
        None => format!("{head} {order}"),
        Some(since) => format!(
            "{head} AND [System.ChangedDate] >= '{}' {order}",
            since.to_rfc3339_opts(SecondsFormat::Millis, true)
        ),
    }
}

/// `POST {project}/_apis/wit/wiql`: the ids the query finds, at most `top`.
/// `timePrecision=true` makes WIQL compare times, not days.
pub async fn query(
    http: &HttpClient,
    project: &str,
    wiql: &str,
    top: usize,
    stats: &mut HttpStats,
) -> Result<Fetched, RunError> {
    let top = top.to_string();
    let url = http.url(
        &format!("{project}/_apis/wit/wiql"),
        &[
            ("timePrecision", "true"),
            ("$top", top.as_str()),
            ("api-version", API_VERSION),
        ],
    );
    Ok(http
        .post_json(&url, &json!({ "query": wiql }), stats)
        .await?)
}

/// `POST {project}/_apis/wit/workitemsbatch`: the `value` array of these items.
pub async fn batch(
    http: &HttpClient,
    project: &str,
    ids: &[u64],
    fields: &[&str],
    stats: &mut HttpStats,
) -> Result<(String, Vec<Value>), RunError> {
    let url = http.url(
        &format!("{project}/_apis/wit/workitemsbatch"),
        &[("api-version", API_VERSION)],
    );
    // `omit`: an item deleted since the query comes back as null instead of failing
    // the whole batch.
    let body = json!({ "ids": ids, "fields": fields, "errorPolicy": "omit" });
    let fetched = http.post_json(&url, &body, stats).await?;
    let values = value_array(&fetched)?;
    Ok((fetched.path, values))
}

/// `GET {project}/{team}/_apis/work/teamsettings/iterations`.
pub async fn iterations(
    http: &HttpClient,
    project: &str,
    team: &str,
    stats: &mut HttpStats,
) -> Result<Vec<Value>, RunError> {
    let url = http.url(
        &format!("{project}/{team}/_apis/work/teamsettings/iterations"),
        &[("api-version", API_VERSION)],
    );
    let fetched = http.get(&url, stats).await?;
    value_array(&fetched)
}

/// Every revision of item `id`, `page` at a time, until a short page.
pub async fn revisions(
    http: &HttpClient,
    project: &str,
    id: u64,
    page: u32,
    stats: &mut HttpStats,
) -> Result<Vec<Value>, RunError> {
    let mut values = Vec::new();
    let page = page.max(1);
    loop {
        let skip = values.len().to_string();
        let top = page.to_string();
        let url = http.url(
            &format!("{project}/_apis/wit/workitems/{id}/revisions"),
            &[
                ("$top", top.as_str()),
                ("$skip", skip.as_str()),
                ("api-version", API_VERSION),
            ],
        );
        let fetched = http.get(&url, stats).await?;
        let mut got = value_array(&fetched)?;
        let short = got.len() < page as usize;
        values.append(&mut got);
        if short {
            return Ok(values);
        }
    }
}

/// The `value` array of a list answer (`{"count", "value"}`).
fn value_array(fetched: &Fetched) -> Result<Vec<Value>, RunError> {
    match fetched.json()? {
        Value::Object(mut object) => match object.remove("value") {
            Some(Value::Array(values)) => Ok(values),
            Some(_) | None => Err(RunError::Shape {
                path: fetched.path.clone(),
                reason: "value is not an array".to_owned(),
            }),
        },
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_) => {
            Err(RunError::Shape {
                path: fetched.path.clone(),
                reason: "expected a json object".to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wiql_asks_from_since_in_utc() {
        let since = DateTime::parse_from_rfc3339("2024-05-10T08:55:59Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(
            wiql(Some(since)),
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project \
             AND [System.ChangedDate] >= '2024-05-10T08:55:59.000Z' \
             ORDER BY [System.ChangedDate] ASC"
        );
    }
}
