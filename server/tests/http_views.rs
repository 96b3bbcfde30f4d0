//! The views API end to end: a real `vigil serve`, views made and changed over
//! pgwire (tokio-postgres), read over HTTP (reqwest) as snapshots and followed as
//! server-sent events, including a reconnect with `Last-Event-ID` that must resume
//! with exactly the changes made while the client was away.

mod common;

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use common::VigilServer;
use serde_json::{Value, json};
use tokio_postgres::{Client, NoTls};

/// How long an expected event may take to arrive.
const EVENT_DEADLINE: Duration = Duration::from_secs(60);

async fn connect(server: &VigilServer) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(&server.conninfo(), NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// One server-sent event.
#[derive(Debug)]
struct SseEvent {
    event: String,
    id: u64,
    data: Value,
}

/// Reads the events of an open `text/event-stream` response.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    async fn open(
        http: &reqwest::Client,
        url: &str,
        last_event_id: Option<u64>,
    ) -> anyhow::Result<EventStream> {
        let mut request = http.get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await?;
        ensure!(
            response.status() == reqwest::StatusCode::OK,
            "{url}: {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        ensure!(content_type == "text/event-stream", "{content_type}");
        Ok(EventStream {
            response,
            buffer: String::new(),
        })
    }

    /// The next event other than progress (whose ids must still move forward).
    async fn next_changes(&mut self, after: u64) -> anyhow::Result<SseEvent> {
        let mut last = after;
        loop {
            let event = tokio::time::timeout(EVENT_DEADLINE, self.next())
                .await
                .context("no event within the deadline")??;
            ensure!(
                event.id > last,
                "event id {} after {last}: {event:?}",
                event.id
            );
            last = event.id;
            match event.event.as_str() {
                "progress" => ensure!(event.data == json!({"timestamp": event.id}), "{event:?}"),
                "changes" => {
                    ensure!(event.data["timestamp"] == json!(event.id), "{event:?}");
                    return Ok(event);
                }
                _ => bail!("unexpected event {event:?}"),
            }
        }
    }

    async fn next(&mut self) -> anyhow::Result<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_frame(&frame)? {
                    return Ok(event);
                }
                continue;
            }
            let Some(chunk) = self.response.chunk().await? else {
                bail!("the stream ended");
            };
            self.buffer.push_str(std::str::from_utf8(&chunk)?);
        }
    }
}

/// An event of one frame, `None` for a keep-alive comment.
fn parse_frame(frame: &str) -> anyhow::Result<Option<SseEvent>> {
    let (mut event, mut id, mut data) = (None, None, String::new());
    for line in frame.lines().filter(|line| !line.is_empty()) {
        let (field, value) = line.split_once(':').context("a field")?;
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "" => {}
            "event" => event = Some(value.to_owned()),
            "id" => id = Some(value.parse::<u64>()?),
            "data" => data.push_str(value),
            other => bail!("unexpected field {other} in {frame:?}"),
        }
    }
    let Some(event) = event else { return Ok(None) };
    Ok(Some(SseEvent {
        event,
        id: id.context("an id")?,
        data: serde_json::from_str(&data)?,
    }))
}

fn change(diff: i64, id: i32, status: &str, points: i32) -> Value {
    json!({"diff": diff, "row": {"id": id, "status": status, "points": points}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_are_read_and_followed_over_http() -> anyhow::Result<()> {
    let server = VigilServer::start(1)?;
    let result = follow(&server).await;
    result.map_err(|e| anyhow::anyhow!("{e:#}\n{}", server.log_tail()))
}

async fn follow(server: &VigilServer) -> anyhow::Result<()> {
    let sql = connect(server).await?;
    sql.batch_execute(
        "CREATE TABLE issues (id int PRIMARY KEY, status text NOT NULL, points int NOT NULL);
         INSERT INTO issues VALUES (1, 'open', 3), (2, 'done', 5), (3, 'open', 8);
         CREATE MATERIALIZED VIEW open_issues AS
             SELECT id, status, points FROM issues WHERE status <> 'done'",
    )
    .await?;
    let base = format!("http://{}/api/v1/views", server.http_addr());
    let http = reqwest::Client::new();

    let list: Value = http.get(&base).send().await?.json().await?;
    ensure!(
        list == json!({"views": [{"name": "open_issues", "kind": "materialized view", "columns": [
            {"name": "id", "type": "integer", "nullable": false},
            {"name": "status", "type": "text", "nullable": false},
            {"name": "points", "type": "integer", "nullable": false},
        ]}]}),
        "{list}"
    );

    let view = format!("{base}/open_issues");
    let snapshot: Value = http.get(&view).send().await?.json().await?;
    ensure!(
        snapshot["rows"]
            == json!([
                {"id": 1, "status": "open", "points": 3},
                {"id": 3, "status": "open", "points": 8},
            ]),
        "{snapshot}"
    );
    let csv = http
        .get(format!("{view}?points=8"))
        .header("Accept", "text/csv")
        .send()
        .await?
        .text()
        .await?;
    ensure!(csv == "id,status,points\n3,open,8\n", "{csv:?}");
    let error: Value = http
        .get(format!("{view}?points=many"))
        .send()
        .await?
        .json()
        .await?;
    ensure!(error["code"] == "invalid_filter", "{error}");

    // Follow: the snapshot first, then a change made over pgwire.
    let changes = format!("{view}/changes");
    let mut stream = EventStream::open(&http, &changes, None).await?;
    let first = stream.next_changes(0).await?;
    ensure!(
        first.data["changes"] == json!([change(1, 1, "open", 3), change(1, 3, "open", 8)]),
        "{first:?}"
    );
    sql.execute("INSERT INTO issues VALUES (4, 'open', 2)", &[])
        .await?;
    let inserted = stream.next_changes(first.id).await?;
    ensure!(
        inserted.data["changes"] == json!([change(1, 4, "open", 2)]),
        "{inserted:?}"
    );
    drop(stream);

    // Two changes, at two times, while no one listens.
    sql.execute("UPDATE issues SET points = 1 WHERE id = 1", &[])
        .await?;
    sql.execute("UPDATE issues SET status = 'done' WHERE id = 3", &[])
        .await?;

    // Resuming after the last event seen gives exactly those, in order.
    let mut resumed = EventStream::open(&http, &changes, Some(inserted.id)).await?;
    let updated = resumed.next_changes(inserted.id).await?;
    ensure!(
        updated.data["changes"] == json!([change(-1, 1, "open", 3), change(1, 1, "open", 1)]),
        "{updated:?}"
    );
    let closed = resumed.next_changes(updated.id).await?;
    ensure!(
        closed.data["changes"] == json!([change(-1, 3, "open", 8)]),
        "{closed:?}"
    );
    // And the stream goes on with what happens next.
    sql.execute("DELETE FROM issues WHERE id = 4", &[]).await?;
    let deleted = resumed.next_changes(closed.id).await?;
    ensure!(
        deleted.data["changes"] == json!([change(-1, 4, "open", 2)]),
        "{deleted:?}"
    );

    let gone = http
        .get(&changes)
        .header("Last-Event-ID", "1")
        .send()
        .await?;
    ensure!(
        gone.status() == reqwest::StatusCode::GONE,
        "{}",
        gone.status()
    );
    let body: Value = gone.json().await?;
    ensure!(body["code"] == "history_compacted", "{body}");
    Ok(())
}
