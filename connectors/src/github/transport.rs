//! GitHub's endpoints over the shared [`HttpClient`]: which URLs, which headers, and
//! paging by the `Link` header. Every body comes back as bytes (kept raw, hashed) and
//! as checked JSON.

use bytes::Bytes;
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderName};
use serde_json::Value;

use crate::config::{GitHubConfig, Repo};
use crate::http::{Fetched, HttpClient, HttpError, HttpStats};
use crate::run::RunError;

/// The REST API version the format module is written against.
pub const API_VERSION: &str = "2022-11-28";

/// The client for `config`'s GitHub: JSON media type, API version, and the token as a
/// bearer token when there is one.
pub fn client(config: &GitHubConfig) -> Result<HttpClient, HttpError> {
    let headers = [
        (ACCEPT, "application/vnd.github+json".to_owned()),
        (
            HeaderName::from_static("x-github-api-version"),
            API_VERSION.to_owned(),
        ),
    ];
    let token: Vec<(HeaderName, String)> = config
        .common
        .token
        .iter()
        .map(|token| (AUTHORIZATION, format!("Bearer {}", token.expose())))
        .collect();
    HttpClient::new(
        &config.common.base_url,
        &headers,
        &token,
        config.common.http,
    )
}

/// A fetched JSON document.
pub struct Document {
    pub fetched: Fetched,
    pub json: Value,
}

/// One page of a list.
pub struct Page {
    pub path: String,
    pub entries: Vec<Value>,
    pub next: Option<Url>,
}

/// The first page of a repository's pull requests, most recently updated first
/// (GitHub has no `since` for pulls, so the run stops at the cursor itself).
pub fn pulls_url(http: &HttpClient, repo: &Repo, per_page: u32) -> Url {
    http.url(
        &format!("repos/{}/{}/pulls", repo.owner, repo.name),
        &[
            ("state", "all"),
            ("sort", "updated"),
            ("direction", "desc"),
            ("per_page", &per_page.to_string()),
        ],
    )
}

/// A page of a list endpoint and the link to the next one.
pub async fn page(http: &HttpClient, url: &Url, stats: &mut HttpStats) -> Result<Page, RunError> {
    let fetched = http.get(url, stats).await?;
    let next = next_page(http, &fetched)?;
    let path = fetched.path.clone();
    match fetched.json()? {
        Value::Array(entries) => Ok(Page {
            path,
            entries,
            next,
        }),
        other => Err(RunError::Shape {
            path,
            reason: format!("expected a json array, got {}", kind(&other)),
        }),
    }
}

/// `GET /repos/{o}/{r}/pulls/{n}`: the only place `additions` and `deletions` are.
pub async fn pull(
    http: &HttpClient,
    repo: &Repo,
    number: u64,
    stats: &mut HttpStats,
) -> Result<Document, RunError> {
    let url = http.url(
        &format!("repos/{}/{}/pulls/{number}", repo.owner, repo.name),
        &[],
    );
    let fetched = http.get(&url, stats).await?;
    let json = fetched.json()?;
    Ok(Document { fetched, json })
}

/// Every review of pull request `number`, all pages, as one JSON array: the bytes as
/// received when there is one page (nearly always), the pages' elements joined when
/// there are more.
pub async fn reviews(
    http: &HttpClient,
    repo: &Repo,
    number: u64,
    per_page: u32,
    stats: &mut HttpStats,
) -> Result<(Bytes, Vec<Value>), RunError> {
    let mut url = Some(http.url(
        &format!("repos/{}/{}/pulls/{number}/reviews", repo.owner, repo.name),
        &[("per_page", &per_page.to_string())],
    ));
    let mut pages = Vec::new();
    let mut elements = Vec::new();
    while let Some(current) = url.take() {
        let fetched = http.get(&current, stats).await?;
        url = next_page(http, &fetched)?;
        match fetched.json()? {
            Value::Array(mut page) => elements.append(&mut page),
            other => {
                return Err(RunError::Shape {
                    path: fetched.path,
                    reason: format!("expected a json array of reviews, got {}", kind(&other)),
                });
            }
        }
        pages.push(fetched.body);
    }
    let body = match pages.len() {
        1 => pages.swap_remove(0),
        _ => Bytes::from(Value::Array(elements.clone()).to_string()),
    };
    Ok((body, elements))
}

/// The next page, refusing a link to another origin: the token goes with it.
fn next_page(http: &HttpClient, fetched: &Fetched) -> Result<Option<Url>, RunError> {
    match fetched.next_link() {
        Some(url) if !http.same_origin(&url) => Err(RunError::Shape {
            path: fetched.path.clone(),
            reason: format!(
                "its next page is on another origin ({}); the token is not sent there",
                url.host_str().unwrap_or("no host")
            ),
        }),
        next => Ok(next),
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
