//! PowerSchool's endpoints over an [`OAuthClient`]: the token at
//! `POST /oauth/access_token`, the `/ws/v1` district resources paged by `page`
//! (from 1) and `pagesize`, their `/count`, and PowerQueries
//! (`POST /ws/schema/query/{name}`, paged the same way). Retries, `Retry-After`
//! and token refresh are the clients' business.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

use super::config::PowerSchoolConfig;
use super::format;
use crate::config::Secret;
use crate::http::{Fetched, HttpError, HttpStats};
use crate::oauth::{Credentials, OAuthClient};
use crate::run::RunError;

/// The expansions every student page asks for.
pub const EXPANSIONS: &str = "demographics,school_enrollment,ethnicity_race";

pub const STUDENTS: &str = "ws/v1/district/student";
pub const SCHOOLS: &str = "ws/v1/district/school";

/// The client for `config`'s server: client credentials for a bearer token.
pub fn client(config: &PowerSchoolConfig) -> Result<OAuthClient, HttpError> {
    let base = config.common.base_url.trim_end_matches('/');
    let token_url = format!("{base}/oauth/access_token");
    let token_url = reqwest::Url::parse(&token_url).map_err(|error| HttpError::BaseUrl {
        url: config.common.base_url.clone(),
        reason: error.to_string(),
    })?;
    let headers = [
        (ACCEPT, "application/json".to_owned()),
        (CONTENT_TYPE, "application/json".to_owned()),
    ];
    let credentials = Credentials {
        token_url,
        client_id: config.client_id.clone(),
        client_secret: config
            .client_secret()
            .cloned()
            .unwrap_or_else(|| Secret::new(String::new())),
    };
    OAuthClient::new(base, &headers, credentials, config.common.http)
}

fn shape(fetched: &Fetched, reason: String) -> RunError {
    RunError::Shape {
        path: fetched.path.clone(),
        reason,
    }
}

/// `GET /ws/v1/district/student/count`.
pub async fn student_count(http: &OAuthClient, stats: &mut HttpStats) -> Result<u64, RunError> {
    let url = http.url(&format!("{STUDENTS}/count"), &[]);
    let fetched = http.get(&url, stats).await?;
    format::count(&fetched.json()?).map_err(|reason| shape(&fetched, reason))
}

/// One page (from 1) of a `/ws/v1` list, with `query` added.
pub async fn page(
    http: &OAuthClient,
    resource: &str,
    page: u32,
    pagesize: u32,
    query: &[(&str, &str)],
    stats: &mut HttpStats,
) -> Result<(Fetched, Value), RunError> {
    let page = page.to_string();
    let pagesize = pagesize.to_string();
    let mut pairs = query.to_vec();
    pairs.push(("page", &page));
    pairs.push(("pagesize", &pagesize));
    let url = http.url(resource, &pairs);
    let fetched = http.get(&url, stats).await?;
    let value = fetched.json()?;
    Ok((fetched, value))
}

/// The elements of a `/ws/v1` list page, or why the page is not one.
pub fn elements(
    fetched: &Fetched,
    value: &Value,
    outer: &str,
    inner: &str,
) -> Result<Vec<Value>, RunError> {
    format::list(value, outer, inner)
        .map(|elements| elements.into_iter().cloned().collect())
        .map_err(|reason| shape(fetched, reason))
}

/// One page (from 1) of PowerQuery `name`: its records.
pub async fn power_query(
    http: &OAuthClient,
    name: &str,
    page: u32,
    pagesize: u32,
    stats: &mut HttpStats,
) -> Result<Vec<Value>, RunError> {
    let page = page.to_string();
    let pagesize = pagesize.to_string();
    let url = http.url(
        &format!("ws/schema/query/{name}"),
        &[("page", &page), ("pagesize", &pagesize)],
    );
    let fetched = http.post_json(&url, &json!({}), stats).await?;
    let value = fetched.json()?;
    format::records(&value)
        .map(|records| records.into_iter().cloned().collect())
        .map_err(|reason| shape(&fetched, reason))
}
