//! Jira Cloud's endpoints over the shared [`HttpClient`]: the JQL search (a POST
//! paged by `nextPageToken`), the changelog, the board, its sprints and the site's
//! statuses (paged by `startAt` until `isLast`). Rate limits (`429` with
//! `Retry-After`, `503` with `Retry-After`) are the client's business.

use chrono::{DateTime, FixedOffset, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderName};
use serde_json::{Value, json};

use crate::config::JiraConfig;
use crate::http::{Fetched, HttpClient, HttpError, HttpStats, basic_auth};
use crate::run::RunError;

/// Histories per changelog page: Jira's largest.
const CHANGELOG_PAGE: u32 = 100;

/// Sprints per page: the Agile API's largest.
const SPRINT_PAGE: u32 = 50;

/// The client for `config`'s site: JSON, and the token as basic auth with the
/// account's email (Jira Cloud API tokens) or as a bearer token (OAuth) without one.
pub fn client(config: &JiraConfig) -> Result<HttpClient, HttpError> {
    let headers = [(ACCEPT, "application/json".to_owned())];
    let token: Vec<(HeaderName, String)> = config
        .common
        .token
        .iter()
        .map(|token| {
            let value = match &config.email {
                Some(email) => basic_auth(email, token.expose()),
                None => format!("Bearer {}", token.expose()),
            };
            (AUTHORIZATION, value)
        })
        .collect();
    HttpClient::new(
        &config.common.base_url,
        &headers,
        &token,
        config.common.http,
    )
}

/// The search of a project's issues updated at or after `since`, in creation order
/// (issues move between pages when sorted by update). JQL times have minutes and
/// no zone: they are the site's, so `since` is written in `zone` and rounded down.
pub fn jql(project: &str, since: Option<DateTime<Utc>>, zone: FixedOffset) -> String {
    match since {
        None => format!("project = \"{project}\" ORDER BY created ASC"),
        Some(since) => format!(
            "project = \"{project}\" AND updated >= \"{}\" ORDER BY created ASC",
            since.with_timezone(&zone).format("%Y/%m/%d %H:%M")
        ),
    }
}

/// One page of search results.
pub struct SearchPage {
    pub path: String,
    pub issues: Vec<Value>,
    /// The next page's token; absent on the last page.
    pub next_page_token: Option<String>,
}

/// `POST /rest/api/3/search/jql`.
pub async fn search(
    http: &HttpClient,
    jql: &str,
    fields: &[&str],
    max_results: u32,
    page_token: Option<&str>,
    stats: &mut HttpStats,
) -> Result<SearchPage, RunError> {
    let url = http.url("rest/api/3/search/jql", &[]);
    let mut body = json!({
        "jql": jql,
        "fields": fields,
        "expand": "changelog",
        "maxResults": max_results,
    });
    if let (Some(token), Some(object)) = (page_token, body.as_object_mut()) {
        object.insert("nextPageToken".into(), token.into());
    }
    let fetched = http.post_json(&url, &body, stats).await?;
    let path = fetched.path.clone();
    let mut json = object(&fetched)?;
    let issues = match json.remove("issues") {
        Some(Value::Array(issues)) => issues,
        other => return Err(shape(&path, "issues", other.as_ref())),
    };
    let is_last = match json.get("isLast") {
        None => None,
        Some(Value::Bool(last)) => Some(*last),
        other => return Err(shape(&path, "isLast", other)),
    };
    let next_page_token = match json.remove("nextPageToken") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) => Some(token),
        other => return Err(shape(&path, "nextPageToken", other.as_ref())),
    };
    match (is_last, next_page_token) {
        (Some(true), _) => Ok(SearchPage {
            path,
            issues,
            next_page_token: None,
        }),
        (Some(false), None) => Err(RunError::Shape {
            path,
            reason: "isLast is false but there is no nextPageToken".to_owned(),
        }),
        (_, next_page_token) => Ok(SearchPage {
            path,
            issues,
            next_page_token,
        }),
    }
}

/// Every history of issue `id`, from `GET /rest/api/3/issue/{id}/changelog`, as one
/// JSON array in the order served.
pub async fn changelog(
    http: &HttpClient,
    id: &str,
    stats: &mut HttpStats,
) -> Result<Vec<Value>, RunError> {
    start_at_pages(
        http,
        &format!("rest/api/3/issue/{id}/changelog"),
        CHANGELOG_PAGE,
        stats,
    )
    .await
}

/// Every sprint of board `id`, from `GET /rest/agile/1.0/board/{id}/sprint`.
pub async fn sprints(
    http: &HttpClient,
    board: u64,
    stats: &mut HttpStats,
) -> Result<Vec<Value>, RunError> {
    start_at_pages(
        http,
        &format!("rest/agile/1.0/board/{board}/sprint"),
        SPRINT_PAGE,
        stats,
    )
    .await
}

/// `GET /rest/agile/1.0/board/{id}`.
pub async fn board(
    http: &HttpClient,
    board: u64,
    stats: &mut HttpStats,
) -> Result<Fetched, RunError> {
    let url = http.url(&format!("rest/agile/1.0/board/{board}"), &[]);
    let fetched = http.get(&url, stats).await?;
    object(&fetched)?;
    Ok(fetched)
}

/// `GET /rest/api/3/status`: every status of the site with its category.
pub async fn statuses(http: &HttpClient, stats: &mut HttpStats) -> Result<Value, RunError> {
    let url = http.url("rest/api/3/status", &[]);
    let fetched = http.get(&url, stats).await?;
    Ok(fetched.json()?)
}

/// The `values` of every page of a `startAt`-paged list, until `isLast` (or, where a
/// list has no `isLast`, until `total` is reached or a page comes back empty).
async fn start_at_pages(
    http: &HttpClient,
    path: &str,
    max_results: u32,
    stats: &mut HttpStats,
) -> Result<Vec<Value>, RunError> {
    let mut values = Vec::new();
    loop {
        let start_at = values.len().to_string();
        let url = http.url(
            path,
            &[
                ("startAt", start_at.as_str()),
                ("maxResults", &max_results.to_string()),
            ],
        );
        let fetched = http.get(&url, stats).await?;
        let mut json = object(&fetched)?;
        let mut page = match json.remove("values") {
            Some(Value::Array(page)) => page,
            other => return Err(shape(&fetched.path, "values", other.as_ref())),
        };
        let empty = page.is_empty();
        values.append(&mut page);
        let done = match (json.get("isLast"), json.get("total")) {
            (Some(Value::Bool(last)), _) => *last,
            (Some(other), _) => return Err(shape(&fetched.path, "isLast", Some(other))),
            (None, Some(total)) => total
                .as_u64()
                .is_none_or(|total| values.len() as u64 >= total),
            (None, None) => empty,
        };
        if done {
            return Ok(values);
        }
        if empty {
            return Err(RunError::Shape {
                path: fetched.path,
                reason: "an empty page says it is not the last".to_owned(),
            });
        }
    }
}

fn object(fetched: &Fetched) -> Result<serde_json::Map<String, Value>, RunError> {
    match fetched.json()? {
        Value::Object(object) => Ok(object),
        other => Err(RunError::Shape {
            path: fetched.path.clone(),
            reason: format!("expected a json object, got {}", kind(Some(&other))),
        }),
    }
}

fn shape(path: &str, field: &str, value: Option<&Value>) -> RunError {
    RunError::Shape {
        path: path.to_owned(),
        reason: format!("{field} is {}", kind(value)),
    }
}

fn kind(value: Option<&Value>) -> &'static str {
    match value {
        None => "missing",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "a boolean",
        Some(Value::Number(_)) => "a number",
        Some(Value::String(_)) => "a string",
        Some(Value::Array(_)) => "an array",
        Some(Value::Object(_)) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jql_writes_the_cursor_in_the_site_zone_rounded_down() {
        let since = DateTime::parse_from_rfc3339("2024-05-10T08:55:59Z")
            .expect("time")
            .with_timezone(&Utc);
        let plus_two = FixedOffset::east_opt(2 * 3600).expect("offset");
        assert_eq!(
            jql("WEB", Some(since), plus_two),
            "project = \"WEB\" AND updated >= \"2024/05/10 10:55\" ORDER BY created ASC"
        );
        assert_eq!(
            jql("WEB", None, plus_two),
            "project = \"WEB\" ORDER BY created ASC"
        );
    }
}
