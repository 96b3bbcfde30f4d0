//! ClickUp v2's endpoints over the shared [`HttpClient`]: a space, the lists of a
//! sprint folder, and the team's tasks paged by `page` from 0 until `last_page`.
//! Rate limits (`429` with `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` in
//! epoch seconds) are the client's business.

use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderName};
use serde_json::{Map, Value};

use crate::config::ClickUpConfig;
use crate::http::{Fetched, HttpClient, HttpError, HttpStats};
use crate::run::RunError;

/// The client for `config`'s team: JSON, and the token as ClickUp wants it, bare in
/// `Authorization` (personal tokens `pk_…`; OAuth tokens are sent the same way).
pub fn client(config: &ClickUpConfig) -> Result<HttpClient, HttpError> {
    let headers = [(ACCEPT, "application/json".to_owned())];
    let token: Vec<(HeaderName, String)> = config
        .common
        .token
        .iter()
        .map(|token| (AUTHORIZATION, token.expose().to_owned()))
        .collect();
    HttpClient::new(
        &config.common.base_url,
        &headers,
        &token,
        config.common.http,
    )
}

/// `GET /api/v2/space/{id}`, as received.
pub async fn space(
    http: &HttpClient,
    id: &str,
    stats: &mut HttpStats,
) -> Result<Fetched, RunError> {
    let url = http.url(&format!("api/v2/space/{id}"), &[]);
    Ok(http.get(&url, stats).await?)
}

/// The lists of folder `id` (`GET /api/v2/folder/{id}/list`), each as served.
pub async fn folder_lists(
    http: &HttpClient,
    id: &str,
    stats: &mut HttpStats,
) -> Result<Vec<Value>, RunError> {
    let url = http.url(
        &format!("api/v2/folder/{id}/list"),
        &[("archived", "false")],
    );
    let fetched = http.get(&url, stats).await?;
    let path = fetched.path.clone();
    let mut json = object(&fetched)?;
    match json.remove("lists") {
        Some(Value::Array(lists)) => Ok(lists),
        other => Err(shape(&path, "lists", other.as_ref())),
    }
}

/// One page of a team's tasks.
pub struct TaskPage {
    pub path: String,
    pub tasks: Vec<Value>,
    pub last_page: bool,
}

/// `GET /api/v2/team/{team}/task`: page `page` of the space's tasks updated after
/// `since` (all when `None`), closed ones and subtasks included.
pub async fn tasks(
    http: &HttpClient,
    team: &str,
    space: &str,
    since: Option<DateTime<Utc>>,
    page: u32,
    stats: &mut HttpStats,
) -> Result<TaskPage, RunError> {
    let page_text = page.to_string();
    let since_text = since.map(|since| since.timestamp_millis().to_string());
    let mut query = vec![
        ("page", page_text.as_str()),
        ("order_by", "updated"),
        ("include_closed", "true"),
        ("subtasks", "true"),
        ("space_ids[]", space),
    ];
    if let Some(since) = &since_text {
        query.push(("date_updated_gt", since.as_str()));
    }
    let url = http.url(&format!("api/v2/team/{team}/task"), &query);
    let fetched = http.get(&url, stats).await?;
    let path = fetched.path.clone();
    let mut json = object(&fetched)?;
    let tasks = match json.remove("tasks") {
        Some(Value::Array(tasks)) => tasks,
        other => return Err(shape(&path, "tasks", other.as_ref())),
    };
    let last_page = match json.get("last_page") {
        Some(Value::Bool(last)) => *last,
        other => return Err(shape(&path, "last_page", other)),
    };
    Ok(TaskPage {
        path,
        tasks,
        last_page,
    })
}

fn object(fetched: &Fetched) -> Result<Map<String, Value>, RunError> {
    match fetched.json()? {
        Value::Object(object) => Ok(object),
        other => Err(RunError::Shape {
            path: fetched.path.clone(),
            reason: format!("expected an object, got {}", kind(&other)),
        }),
    }
}

fn shape(path: &str, field: &str, found: Option<&Value>) -> RunError {
    RunError::Shape {
        path: path.to_owned(),
        reason: match found {
            None => format!("{field} is missing"),
            Some(value) => format!("{field} is {}", kind(value)),
        },
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
