//! An adapter under test: started with `run` on an ephemeral port against isolated topics on the
//! real broker, requests over real HTTP, and what it produced read back from the topics.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use ferroloop_api_adapter::{Config, run};
use ferroloop_messaging::{BatchConsumer, Envelope, KafkaArgs, ReceivedMessage};
use ferroloop_telemetry::TelemetryArgs;
use ferroloop_testkit::TestBroker;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Longest a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(60);

pub const ACCEPT: &str = "application/vnd.interoperability.transfers+json;version=1";
pub const CONTENT_TYPE: &str = "application/vnd.interoperability.transfers+json;version=1.1";
pub const PAYER: &str = "payerfsp";
pub const PAYEE: &str = "payeefsp";

/// A file of the crate's test data (`testdata/`, extracted from the upstream documents by
/// `scripts/testdata/extract.py`), never retyped.
pub fn testdata_path(relative: &str) -> String {
    format!("{}/testdata/{relative}", env!("CARGO_MANIFEST_DIR"))
}

/// The `pattern` of a schema in the adapter's OpenAPI file, exactly as written (plain or `>-`).
pub fn yaml_pattern(schema: &str) -> String {
    let text = std::fs::read_to_string(testdata_path("ml-api-adapter-transfers.yaml"))
        .expect("the adapter's OpenAPI file");
    let schemas = text.find("\n  schemas:\n").expect("components/schemas");
    let mut lines = text[schemas..].lines().skip(2);
    let heading = format!("    {schema}:");
    lines
        .by_ref()
        .find(|l| *l == heading)
        .unwrap_or_else(|| panic!("schema {schema}"));
    for line in lines.by_ref() {
        let next_schema = line.starts_with("    ") && !line.starts_with("     ");
        assert!(!next_schema, "no pattern in {schema}");
        if let Some(value) = line.strip_prefix("      pattern: ") {
            if value == ">-" {
                break;
            }
            return value.to_owned();
        }
    }
    lines.next().expect("folded pattern").trim().to_owned()
}

/// `"<message> - <detail>"` cut to 128 characters, as FSPIOP error descriptions are.
pub fn description(message: &str, detail: &str) -> String {
    format!("{message} - {detail}").chars().take(128).collect()
}

pub fn telemetry() -> TelemetryArgs {
    TelemetryArgs {
        ops_addr: "127.0.0.1:0".parse().unwrap(),
        log_level: "warn".into(),
        log_format: "text".into(),
    }
}

/// A running adapter.
#[derive(Debug)]
pub struct TestApp {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:port`, or `https://…` with TLS.
    pub base_url: String,
    pub jws_key_reloads: Option<tokio::sync::watch::Receiver<u64>>,
    pub tls_reloads: Option<tokio::sync::watch::Receiver<u64>>,
    pub ops_addr: SocketAddr,
    pub kafka: KafkaArgs,
    pub shutdown: CancellationToken,
    pub task: Option<tokio::task::JoinHandle<()>>,
    pub client: reqwest::Client,
    _broker: Option<TestBroker>,
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// With fresh topics on the real broker and the defaults adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let broker = TestBroker::new().await;
        Self::start_on(broker.args.clone(), Some(broker), adjust).await
    }

    /// On the given broker settings (e.g. a port where nothing listens).
    pub async fn start_on(
        kafka: KafkaArgs,
        broker: Option<TestBroker>,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config::new(kafka.clone(), telemetry());
        adjust(&mut config);
        let scheme = if config.tls.cert_path.is_some() {
            "https"
        } else {
            "http"
        };
        ferroloop_telemetry::init_logging(&config.telemetry);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        let running = run(listener, config, shutdown.clone())
            .await
            .expect("adapter starts");
        Self {
            addr: running.addr,
            base_url: format!("{scheme}://{}", running.addr),
            jws_key_reloads: running.jws_key_reloads,
            tls_reloads: running.tls_reloads,
            ops_addr: running.ops_addr,
            kafka,
            shutdown,
            task: Some(running.task),
            client: ferroloop_testkit::http_client(),
            _broker: broker,
        }
    }

    /// Sends a request over HTTP/1.1: with reqwest, or — when the request has no `Accept`,
    /// which reqwest always adds (`*/*`) — with [`raw`].
    pub async fn send(&self, request: &Req) -> Answer {
        if request.header("accept").is_none() {
            return raw(self.addr, request, false).await;
        }
        self.send_with(&self.client, request)
            .await
            .expect("request sent")
    }

    /// Sends `request` with `client` (e.g. one presenting a client certificate); a transport
    /// failure (a refused TLS handshake) is the error.
    pub async fn send_with(
        &self,
        client: &reqwest::Client,
        request: &Req,
    ) -> Result<Answer, reqwest::Error> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
        let mut builder = client.request(method, format!("{}{}", self.base_url, request.path));
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if request.method != "GET" || !request.body.is_empty() {
            builder = builder.body(request.body.clone());
        }
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let content_type = header("content-type");
        let retry_after = header("retry-after");
        let body = response.bytes().await?.to_vec();
        Ok(Answer {
            status,
            content_type,
            retry_after,
            body,
        })
    }

    pub async fn get_ops(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("http://{}{path}", self.ops_addr))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Stops the adapter and waits until it has finished.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task)
                .await
                .expect("adapter stops")
                .unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An HTTP request.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// With every header a valid request of this method has (Accept on every method).
    pub fn new(method: &str, path: impl Into<String>) -> Self {
        let date = httpdate::fmt_http_date(SystemTime::now());
        Self {
            method: method.to_owned(),
            path: path.into(),
            headers: [
                ("Accept", ACCEPT),
                ("Content-Type", CONTENT_TYPE),
                ("Date", date.as_str()),
                (
                    "FSPIOP-Source",
                    if method == "POST" { PAYER } else { PAYEE },
                ),
                (
                    "FSPIOP-Destination",
                    if method == "POST" { PAYEE } else { PAYER },
                ),
            ]
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect(),
            body: Vec::new(),
        }
    }

    pub fn post(body: &Value) -> Self {
        Self::new("POST", "/transfers").json(body)
    }

    pub fn put(id: &str, body: &Value) -> Self {
        Self::new("PUT", format!("/transfers/{id}")).json(body)
    }

    pub fn put_error(id: &str, body: &Value) -> Self {
        Self::new("PUT", format!("/transfers/{id}/error")).json(body)
    }

    pub fn get(id: &str) -> Self {
        Self::new("GET", format!("/transfers/{id}"))
    }

    pub fn json(self, body: &Value) -> Self {
        self.body(serde_json::to_vec(body).unwrap())
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// A header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets (replacing, case-insensitively) or with `None` removes a header.
    pub fn with(mut self, name: &str, value: Option<&str>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if let Some(value) = value {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// (HTTP status, errorCode, errorDescription) of an FSPIOP error response, after checking
    /// its form.
    pub fn error(&self) -> (u16, String, String) {
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/json"),
            "error responses are JSON"
        );
        let body = self.json();
        let info = &body["errorInformation"];
        let keys: Vec<&String> = info.as_object().expect("errorInformation").keys().collect();
        assert!(
            keys.iter()
                .all(|k| ["errorCode", "errorDescription", "extensionList"].contains(&k.as_str())),
            "{body}"
        );
        (
            self.status,
            info["errorCode"].as_str().expect("errorCode").to_owned(),
            info["errorDescription"]
                .as_str()
                .expect("errorDescription")
                .to_owned(),
        )
    }
}

/// One request over a fresh TCP connection, written by hand (`Connection: close`), the body
/// either with `Content-Length` or chunked.
pub async fn raw(addr: SocketAddr, request: &Req, chunked: bool) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(&raw_head(addr, request, chunked))
        .await
        .unwrap();
    if chunked {
        for chunk in request.body.chunks(1000) {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await
                .unwrap();
            stream.write_all(chunk).await.unwrap();
            stream.write_all(b"\r\n").await.unwrap();
        }
        stream.write_all(b"0\r\n\r\n").await.unwrap();
    } else {
        stream.write_all(&request.body).await.unwrap();
    }
    read_answer(stream).await
}

/// The request line and headers of [`raw`].
pub fn raw_head(addr: SocketAddr, request: &Req, chunked: bool) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n",
        request.method, request.path
    );
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n");
    } else if request.method != "GET" || !request.body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", request.body.len()));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Reads a whole response from a `Connection: close` exchange.
pub async fn read_answer(mut stream: TcpStream) -> Answer {
    let mut bytes = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut bytes))
        .await
        .expect("response within the wait")
        .unwrap();
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8(bytes[..split].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let fields: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(':')).collect();
    let header = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    Answer {
        status,
        content_type: header("content-type"),
        retry_after: header("retry-after"),
        body: bytes[split + 4..].to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn prepare_body(id: &str) -> Value {
    json!({
        "transferId": id,
        "payerFsp": PAYER,
        "payeeFsp": PAYEE,
        "amount": {"currency": "USD", "amount": "123.45"},
        "ilpPacket": "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF81MDdqUUZERmZlakgyOVc4bXFmNEpLMHlGTFGCAUBQU0svMS4wCk5vbmNlOiB1SXlweUYzY3pYSXBFdzVVc05TYWh3CkVuY3J5cHRpb246IG5vbmUKUGF5bWVudC1JZDogMTMyMzZhM2ItOGZhOC00MTYzLTg0NDctNGMzZWQzZGE5OGE3CgpDb250ZW50LUxlbmd0aDogMTM1CkNvbnRlbnQtVHlwZTogYXBwbGljYXRpb24vanNvbgpTZW5kZXItSWRlbnRpZmllcjogOTI4MDYzOTEKCiJ7XCJmZWVcIjowLFwidHJhbnNmZXJDb2RlXCI6XCJpbnZvaWNlXCIsXCJkZWJpdE5hbWVcIjpcImFsaWNlIGNvb3BlclwiLFwiY3JlZGl0TmFtZVwiOlwibWVyIGNoYW50XCIsXCJkZWJpdElkZW50aWZpZXJcIjpcIjkyODA2MzkxXCJ9IgA",
        "condition": "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM",
        "expiration": "2030-01-01T00:00:00.000Z",
        "extensionList": {"extension": [{"key": "k", "value": "v"}]}
    })
}

/// A `completedTimestamp` of now.
pub fn now_timestamp() -> String {
    ferroloop_core::fspiop_time::format(time::OffsetDateTime::now_utc())
}

pub fn fulfil_body(state: &str) -> Value {
    json!({
        "fulfilment": "UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA",
        "completedTimestamp": now_timestamp(),
        "transferState": state,
        "extensionList": {"extension": [{"key": "k", "value": "v"}]}
    })
}

pub fn error_body() -> Value {
    json!({
        "errorInformation": {
            "errorCode": "5105",
            "errorDescription": "Payee FSP rejected transaction",
            "extensionList": {"extension": [{"key": "k", "value": "v"}]}
        }
    })
}

/// Sets (or adds) the member at a JSON pointer.
pub fn set(mut value: Value, pointer: &str, new: Value) -> Value {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    match value.pointer_mut(parent).unwrap() {
        Value::Object(map) => {
            map.insert(last.to_owned(), new);
        }
        Value::Array(items) => items[last.parse::<usize>().unwrap()] = new,
        other => panic!("cannot set {pointer} in {other}"),
    }
    value
}

pub fn remove(mut value: Value, pointer: &str) -> Value {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    value
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(last)
        .unwrap();
    value
}

// ---------------------------------------------------------------------------------------------
// The broker

/// Reads `n` messages from `topic` (from the beginning) in a consumer group of its own.
pub async fn consume(kafka: &KafkaArgs, topic: &str, n: usize) -> Vec<ReceivedMessage> {
    let group = format!("{}reader-{}", kafka.kafka_topic_prefix, new_id());
    let consumer = BatchConsumer::new(kafka, &group, &[topic]).unwrap();
    let shutdown = CancellationToken::new();
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, async {
        while got.len() < n {
            got.extend(consumer.next_batch(&shutdown).await.expect("consume"));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} messages on {topic}, got {}", got.len()));
    got
}

/// Messages ever produced to `topic`: the sum of its partitions' high watermarks (a fresh
/// topic per test, so "nothing produced" is a count of 0 — no waiting for messages that do not
/// come).
pub fn produced_count(kafka: &KafkaArgs, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &kafka.kafka_brokers)
        .create()
        .expect("kafka client");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .expect("watermarks")
                .1
        })
        .sum()
}

pub fn decode(message: &ReceivedMessage) -> Envelope {
    Envelope::from_json_bytes(&message.payload).expect("a Mojaloop envelope")
}

/// 400 / 3100 for a request that carries `FSPIOP-Proxy`.
pub fn proxy_refused() -> (u16, String, String) {
    (
        400,
        "3100".to_owned(),
        "Generic validation error - FSPIOP-Proxy is not accepted: interscheme proxying is not supported"
            .to_owned(),
    )
}

/// The value of the sample `name` (with its labels, as Prometheus prints them) in a `/metrics`
/// text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}
