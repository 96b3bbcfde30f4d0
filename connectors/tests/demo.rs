//! The demo configs (`fixtures/demo/*.toml`, what `vigil demo` runs) against the
//! fixture API: each parses with its connector's own parser, and the real connector
//! fetches every scope it names and publishes canonical rows. A config and the
//! server drifting apart (a token, a base path, a mapping the fixtures need) fails
//! here rather than in a new user's first command.

mod common;

use common::{log, succeeded};
use vigil_connectors::{
    AzureConfig, AzureConnector, ClickUpConfig, ClickUpConnector, Connector, GitHubConfig,
    GitHubConnector, JiraConfig, JiraConnector, run_once,
};
use vigil_fixtures::api::{Api, FixtureApi, demo_config};

/// `api`'s connector from config `text`, through its own parser, and its scopes.
fn connector(api: Api, text: &str) -> (Box<dyn Connector>, Vec<String>) {
    let origin = format!("fixtures/demo/{api}.toml");
    let none = |_: &str| None;
    match api {
        Api::GitHub => {
            let config = GitHubConfig::parse(&origin, text, none).expect("github config");
            let connector = GitHubConnector::new(config).expect("github connector");
            let scopes = connector.scopes();
            (Box::new(connector), scopes)
        }
        Api::Jira => {
            let config = JiraConfig::parse(&origin, text, none).expect("jira config");
            let connector = JiraConnector::new(config).expect("jira connector");
            let scopes = connector.scopes();
            (Box::new(connector), scopes)
        }
        Api::Azure => {
            let config = AzureConfig::parse(&origin, text, none).expect("azure config");
            let connector = AzureConnector::new(config).expect("azure connector");
            let scopes = connector.scopes();
            (Box::new(connector), scopes)
        }
        Api::ClickUp => {
            let config = ClickUpConfig::parse(&origin, text, none).expect("clickup config");
            let connector = ClickUpConnector::new(config).expect("clickup connector");
            let scopes = connector.scopes();
            (Box::new(connector), scopes)
        }
    }
}

/// The rows each source's demo publishes to `eng.work_items` (GitHub: to
/// `eng.pull_requests`), from the fixtures' README.
fn expected_rows(api: Api) -> (&'static str, usize) {
    match api {
        Api::GitHub => ("eng.pull_requests", 10),
        Api::Jira => ("eng.work_items", 8),
        Api::Azure => ("eng.work_items", 3),
        Api::ClickUp => ("eng.work_items", 5),
    }
}

#[tokio::test]
async fn every_demo_config_runs_its_connector_over_every_scope() {
    let server = FixtureApi::start().await.expect("fixture api");
    for api in Api::ALL {
        let (connector, scopes) = connector(api, &demo_config(api, &server.url()));
        assert!(!scopes.is_empty(), "{api} names no scope");
        let log = log();
        for scope in &scopes {
            let report = run_once(connector.as_ref(), scope, &log.log).await;
            succeeded(&report);
            assert!(report.published > 0, "{api} {scope} published nothing");
            assert_eq!(report.rejected, 0, "{api} {scope}");
        }
        let (topic, rows) = expected_rows(api);
        assert_eq!(common::latest(&log.log, topic).len(), rows, "{api} {topic}");
    }
    // Every request carried a token the server took.
    let refused: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|request| request.status != 200)
        .map(|request| (request.api, request.key, request.status))
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_401() {
    let server = FixtureApi::start().await.expect("fixture api");
    let text =
        demo_config(Api::ClickUp, &server.url()).replace("pk_demo_clickup_token", "pk_wrong");
    let (connector, _) = connector(Api::ClickUp, &text);
    let log = log();
    let report = run_once(connector.as_ref(), "801", &log.log).await;
    assert_eq!(
        report.error.map(|error| error.to_string()).as_deref(),
        Some(
            "GET /clickup/api/v2/space/801 on 127.0.0.1 answered 401: \
             {\"err\":\"Token invalid\",\"ECODE\":\"OAUTH_025\"} (after 1 attempt)"
        )
    );
    assert_eq!(
        server
            .requests()
            .iter()
            .map(|request| request.status)
            .collect::<Vec<_>>(),
        [401]
    );
}
