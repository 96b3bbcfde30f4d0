//! The demo configs (`fixtures/demo/*.toml`, what `vigil demo` runs) against the
//! fixture API: each parses with its connector's own parser, and the real connector
//! fetches every scope it names and publishes canonical rows. A config and the
//! server drifting apart (a token, a base path, a mapping the fixtures need) fails
//! here rather than in a new user's first command.

mod common;

use common::{keyed, log, succeeded};
use serde_json::{Value, json};
use vigil_connectors::run::MAPPINGS;
use vigil_connectors::{Configured, SourceKind, run_once};
use vigil_fixtures::api::{Api, FixtureApi, demo_config};

/// `api`'s connector from config `text`, through the registry `vigil connect` and
/// the server use.
fn connector(api: Api, text: &str) -> Configured {
    let source: SourceKind = api.prefix().parse().expect("a source for every api");
    let origin = format!("fixtures/demo/{api}.toml");
    Configured::parse(source, &origin, text, |_| None).expect("demo config")
}

/// The `eng.mappings` rows of each demo config, from the config files (and the
/// connectors' defaults where a file is silent: Jira's usual custom field ids,
/// Azure's fixed reference names).
fn expected_mappings(api: Api) -> Vec<Value> {
    let row = |scope: &str, board: Option<&str>, fields: Value| {
        let mut row = json!({
            "tenant_id": "acme", "connector": api.prefix(), "scope_id": scope, "version": 1,
            "board_id": board, "story_points_field": null, "sprint_field": null,
            "flagged_field": null, "status_categories": {}, "blocked_statuses": [],
            "blocked_tags": [], "pr_key_pattern": null,
        });
        for (column, value) in fields.as_object().expect("columns") {
            row[column] = value.clone();
        }
        row
    };
    match api {
        Api::GitHub => ["octo/web", "octo/api"]
            .map(|repo| row(repo, None, json!({"pr_key_pattern": r"[A-Z][A-Z0-9]+-\d+"})))
            .to_vec(),
        Api::Jira => [("10", "jira:10"), ("20", "jira:20")]
            .map(|(scope, board)| {
                row(
                    scope,
                    Some(board),
                    json!({
                        "story_points_field": "customfield_10016",
                        "sprint_field": "customfield_10020",
                        "flagged_field": "customfield_10021",
                        "status_categories": {"Ready for Release": "done"},
                        "blocked_statuses": ["Blocked"],
                        "blocked_tags": ["blocked"],
                    }),
                )
            })
            .to_vec(),
        Api::Azure => vec![row(
            "Fabrikam",
            Some("azure:Fabrikam/Fabrikam Team"),
            json!({
                "story_points_field": "Microsoft.VSTS.Scheduling.StoryPoints",
                "sprint_field": "System.IterationPath",
                "status_categories": {"Waiting": "in_progress"},
                "blocked_statuses": ["Waiting"],
                "blocked_tags": ["blocked"],
            }),
        )],
        Api::ClickUp => vec![row(
            "801",
            Some("clickup:9001:801"),
            json!({
                "story_points_field": "c1a2b3c4-0000-4000-8000-000000000001",
                "sprint_field": "folder:7001",
                "status_categories": {"ready to ship": "done"},
                "blocked_statuses": ["blocked"],
                "blocked_tags": ["blocked"],
            }),
        )],
        // The school information systems map no boards or fields: a district's
        // mapping row says only which version made its rows.
        Api::PowerSchool => vec![row("demo-ps", None, json!({"tenant_id": "demo-ps"}))],
        Api::OneRoster => vec![row("demo-ic", None, json!({"tenant_id": "demo-ic"}))],
    }
}

/// The rows each source's demo publishes to `eng.work_items` (GitHub: to
/// `eng.pull_requests`; the school systems: to `crdc.students`), from the
/// fixtures' README.
fn expected_rows(api: Api) -> (&'static str, usize) {
    match api {
        Api::GitHub => ("eng.pull_requests", 10),
        Api::Jira => ("eng.work_items", 8),
        Api::Azure => ("eng.work_items", 3),
        Api::ClickUp => ("eng.work_items", 5),
        Api::PowerSchool | Api::OneRoster => ("crdc.students", 10),
    }
}

#[tokio::test]
async fn every_demo_config_runs_its_connector_over_every_scope() {
    let server = FixtureApi::start().await.expect("fixture api");
    for api in Api::ALL {
        let configured = connector(api, &demo_config(api, &server.url()));
        assert!(!configured.scopes.is_empty(), "{api} names no scope");
        let log = log();
        for scope in &configured.scopes {
            let report = run_once(configured.connector.as_ref(), scope, &log.log).await;
            succeeded(&report);
            assert!(report.published > 0, "{api} {scope} published nothing");
            assert_eq!(report.rejected, 0, "{api} {scope}");
        }
        let (topic, rows) = expected_rows(api);
        assert_eq!(common::latest(&log.log, topic).len(), rows, "{api} {topic}");
        assert_eq!(
            common::latest(&log.log, MAPPINGS.topic),
            keyed(MAPPINGS.key, expected_mappings(api)),
            "{api} mappings"
        );
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
    let configured = connector(Api::ClickUp, &text);
    let log = log();
    let report = run_once(configured.connector.as_ref(), "801", &log.log).await;
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
