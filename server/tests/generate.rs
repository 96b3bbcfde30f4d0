//! `vigil generate crdc` end to end: the real binary writes a small district as CSV
//! files, which load into the CRDC sources with `COPY … FROM STDIN (FORMAT csv,
//! HEADER)` over pgwire, and publishes a second district (another seed and id)
//! through a running server's HTTP API. For both, `crdc_rule_results` must hold
//! exactly the failures the generator counted, rule by rule (the second district is
//! large enough that every rule that can fail does).
//!
//! The clock is manual at 2026-03-02 09:00 UTC: inside the school year and after
//! every generated date except the injected future ones, which is where the
//! generator's counts hold.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::SinkExt;
use tokio::sync::oneshot;
use vigil_fixtures::generate::crdc::{District, DistrictSpec, RULES, Stats, topics};
use vigil_server::config::ConfigLayer;
use vigil_server::{Server, ServerError};
use vigil_sql::{Coordinator, ExecuteResponse};

const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

/// How long the views may take to take in the district.
const DEADLINE: Duration = Duration::from_secs(180);

struct Running {
    pg: SocketAddr,
    http: SocketAddr,
    coordinator: Coordinator,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl Running {
    async fn start(dir: &Path) -> Running {
        let config = ConfigLayer {
            listen: Some("127.0.0.1:0".into()),
            http_listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.to_path_buf()),
            workers: Some(2),
            clock: Some("manual".into()),
            clock_start: Some("2026-03-02 09:00:00+00".into()),
            ..ConfigLayer::default()
        }
        .resolve()
        .expect("config");
        let server = Server::bind(&config)
            .await
            .expect("bind")
            .with_shutdown_grace(Duration::from_secs(1));
        let (pg, http, coordinator) = (
            server.local_addr(),
            server.http_addr(),
            server.coordinator(),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Running {
            pg,
            http,
            coordinator,
            stop,
            task,
        }
    }

    async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::Config::new()
            .host(self.pg.ip().to_string())
            .port(self.pg.port())
            .user("tester")
            .dbname("vigil")
            .connect_timeout(Duration::from_secs(10))
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
    }

    /// Per rule, the rows of `crdc_rule_results` for `district`.
    async fn failures(&self, district: &str) -> BTreeMap<String, u64> {
        let sql = format!(
            "SELECT rule_id, count(*) FROM crdc_rule_results \
             WHERE district_id = '{district}' GROUP BY rule_id"
        );
        let mut session = self.coordinator.session();
        let mut out = BTreeMap::new();
        if let Some(Ok(ExecuteResponse::Rows { rows, .. })) =
            session.execute_batch(&sql).await.pop()
        {
            for row in rows {
                let text: Vec<String> = row
                    .iter()
                    .map(|d| vigil_engine::repr::text::datum_to_text(d).unwrap_or_default())
                    .collect();
                out.insert(text[0].clone(), text[1].parse().expect("a count"));
            }
        }
        out
    }

    /// Waits until `crdc_rule_results` holds exactly the failures `stats` counted.
    async fn until_failures(&self, district: &str, stats: &Stats) {
        let expected: BTreeMap<String, u64> = stats
            .rule_failures
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(rule, n)| (rule.to_string(), *n))
            .collect();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let got = self.failures(district).await;
            if got == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{district}: crdc_rule_results per rule\n  got:      {got:?}\n  expected: {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("join").expect("server");
    }
}

/// What the generator counts for `spec`, computed in the test's own process.
fn stats_of(spec: DistrictSpec) -> Stats {
    let district = District::new(spec).expect("spec");
    let mut batches = district.batches(10_000);
    for _ in batches.by_ref() {}
    batches.stats().clone()
}

fn vigil(args: &[&str]) -> String {
    let output = Command::new(VIGIL).args(args).output().expect("run vigil");
    assert!(
        output.status.success(),
        "vigil {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_districts_load_and_their_errors_are_found_exactly() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Running::start(&dir.path().join("data")).await;

    // District one: CSV files, loaded with COPY the way psql's \copy sends them.
    let out = dir.path().join("csv");
    let out_arg = out.display().to_string();
    let summary = vigil(&[
        "generate",
        "crdc",
        "--students",
        "2000",
        "--seed",
        "7",
        "--out",
        &out_arg,
    ]);
    let csv_stats = stats_of(DistrictSpec {
        students: 2_000,
        seed: 7,
        ..DistrictSpec::default()
    });
    assert_eq!(
        summary.trim(),
        format!(
            "wrote {} records in 9 files to {out_arg} (2000 students, seed 7)",
            csv_stats.total_records()
        )
    );
    let client = server.client().await;
    for topic in topics::ALL {
        let relation = topics::relation(topic);
        let data = std::fs::read(out.join(format!("{relation}.csv"))).expect("csv file");
        let sink = client
            .copy_in(&format!("COPY {relation} FROM STDIN (FORMAT csv, HEADER)"))
            .await
            .unwrap_or_else(|e| panic!("COPY {relation}: {e}"));
        futures::pin_mut!(sink);
        sink.send(bytes::Bytes::from(data)).await.expect("send");
        let loaded = sink
            .finish()
            .await
            .unwrap_or_else(|e| panic!("COPY {relation}: {e}"));
        assert_eq!(loaded, csv_stats.records[topic], "{relation}.csv");
    }
    server.until_failures("lakeview", &csv_stats).await;

    // District two: published through the server's HTTP API.
    let http = server.http.to_string();
    let summary = vigil(&[
        "generate",
        "crdc",
        "--students",
        "6000",
        "--seed",
        "11",
        "--district-id",
        "riverbend",
        "--publish",
        "--http",
        &http,
    ]);
    let published = stats_of(DistrictSpec {
        district_id: "riverbend".into(),
        students: 6_000,
        seed: 11,
        ..DistrictSpec::default()
    });
    // Large enough that every rule that can fail with counts from records does.
    for rule in RULES {
        let n = published.rule_failures[rule];
        let by_construction = [
            "ENR-002", "ENR-003", "DIS-101", "DIS-106", "RST-001", "RST-002",
        ];
        assert_eq!(
            n > 0,
            !by_construction.contains(&rule),
            "{rule}: {n} failures"
        );
    }
    assert!(
        summary.starts_with(&format!("published {} records", published.total_records())),
        "{summary}"
    );
    server.until_failures("riverbend", &published).await;
    // The first district is untouched by the second.
    server.until_failures("lakeview", &csv_stats).await;
    drop(client);
    server.stop().await;
}
