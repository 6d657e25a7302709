//! The HTTP API in front of the pools: it matches a request to a route as API Gateway does (the
//! most specific route wins; `{name}` takes one segment, `{*name}` the rest), turns it into a
//! payload 2.0 event, invokes the route's function and turns its response document back into
//! HTTP. The routes are the workspace manifest's `cargo lambda watch` router, which the contract
//! tests keep equal to template.yaml's.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::pool::Pool;
use crate::runtime_api::Spec;

enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

struct Route {
    /// `None`: any method.
    method: Option<Method>,
    segments: Vec<Segment>,
    /// `GET /api/tasks`, or `$default`.
    key: String,
    pool: Arc<Pool>,
}

pub struct Front {
    routes: Vec<Route>,
}

impl Front {
    /// The project's HTTP API: one pool per function, each up to `limit` instances.
    pub fn functions(
        root: &Path,
        limit: usize,
        spec: impl Fn(&str) -> Spec,
    ) -> Result<Self, String> {
        let manifest = root.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).map_err(|e| e.to_string())?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| e.to_string())?;
        let router = table
            .get("workspace")
            .and_then(|w| w.get("metadata"))
            .and_then(|m| m.get("lambda"))
            .and_then(|l| l.get("watch"))
            .and_then(|w| w.get("router"))
            .and_then(toml::Value::as_table)
            .ok_or("Cargo.toml has no [workspace.metadata.lambda.watch.router]")?;
        let mut pools: HashMap<String, Arc<Pool>> = HashMap::new();
        let mut pool = |function: &str| {
            pools
                .entry(function.to_owned())
                .or_insert_with(|| Pool::new(spec(function), limit))
                .clone()
        };
        let mut routes = Vec::new();
        for (path, target) in router {
            let mut add = |method: Option<Method>, function: &str| {
                let key = match &method {
                    Some(m) => format!("{m} {path}"),
                    None => format!("ANY {path}"),
                };
                routes.push(Route {
                    method,
                    segments: parse(path),
                    key,
                    pool: pool(function),
                });
            };
            match target {
                toml::Value::String(function) => add(None, function),
                toml::Value::Array(entries) => {
                    for entry in entries {
                        let (Some(method), Some(function)) = (
                            entry.get("method").and_then(toml::Value::as_str),
                            entry.get("function").and_then(toml::Value::as_str),
                        ) else {
                            return Err(format!("router entry for {path}: {entry:?}"));
                        };
                        let method = Method::from_bytes(method.as_bytes())
                            .map_err(|e| format!("{path}: {e}"))?;
                        add(Some(method), function);
                    }
                }
                other => return Err(format!("router entry for {path}: {other:?}")),
            }
        }
        Ok(Self { routes })
    }

    /// One function behind the `$default` route, as a FastAPI app is deployed on Lambda.
    pub fn single(pool: Arc<Pool>) -> Self {
        Self {
            routes: vec![Route {
                method: None,
                segments: vec![Segment::Greedy("proxy".into())],
                key: "$default".into(),
                pool,
            }],
        }
    }

    /// Every pool behind the routes, once each.
    pub fn pools(&self) -> Vec<Arc<Pool>> {
        let mut pools: Vec<Arc<Pool>> = Vec::new();
        for route in &self.routes {
            if !pools.iter().any(|p| Arc::ptr_eq(p, &route.pool)) {
                pools.push(route.pool.clone());
            }
        }
        pools
    }

    /// Serves on a loopback port until the returned set is dropped.
    pub async fn serve(self: Arc<Self>) -> std::io::Result<(SocketAddr, JoinSet<()>)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                let front = self.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let front = front.clone();
                        async move { Ok::<_, Infallible>(front.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok((addr, tasks))
    }

    fn route(&self, method: &Method, path: &str) -> Option<(&Route, Vec<(String, String)>)> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let parts: &[&str] = if parts == [""] { &[] } else { &parts };
        self.routes
            .iter()
            .filter(|r| r.method.as_ref().is_none_or(|m| m == method))
            .filter_map(|r| matches(&r.segments, parts).map(|params| (r, params)))
            // Most specific first: literal segments from the left, then an explicit method.
            .max_by_key(|(r, _)| {
                let literals: Vec<bool> = r
                    .segments
                    .iter()
                    .map(|s| matches!(s, Segment::Literal(_)))
                    .collect();
                (
                    literals,
                    !matches!(r.segments.last(), Some(Segment::Greedy(_))),
                    r.method.is_some(),
                )
            })
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let Some((route, params)) = self.route(&parts.method, parts.uri.path()) else {
            return plain(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#);
        };
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return plain(StatusCode::BAD_REQUEST, r#"{"message":"Bad Request"}"#);
        };
        let event = event(&route.key, params, &parts, &body);
        match route.pool.invoke(event).await {
            Ok(document) => response(&document),
            // What the HTTP API answers when the function fails or its answer is unreadable.
            Err(_) => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"message":"Internal Server Error"}"#,
            ),
        }
    }
}

fn parse(path: &str) -> Vec<Segment> {
    path.trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match name.strip_prefix('*') {
                    Some(rest) => Segment::Greedy(rest.to_owned()),
                    None => Segment::Param(name.to_owned()),
                },
                None => Segment::Literal(s.to_owned()),
            },
        )
        .collect()
}

fn matches(segments: &[Segment], parts: &[&str]) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Greedy(name) => {
                params.push((name.clone(), parts.get(i..)?.join("/")));
                return Some(params);
            }
            Segment::Literal(literal) => {
                if parts.get(i) != Some(&literal.as_str()) {
                    return None;
                }
            }
            Segment::Param(name) => {
                let part = parts.get(i).filter(|p| !p.is_empty())?;
                params.push((name.clone(), (*part).to_owned()));
            }
        }
    }
    (segments.len() == parts.len()).then_some(params)
}

/// API Gateway's payload format 2.0.
fn event(
    route_key: &str,
    params: Vec<(String, String)>,
    parts: &hyper::http::request::Parts,
    body: &Bytes,
) -> Bytes {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(value.split("; ").map(str::to_owned));
            continue;
        }
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = parts.uri.query().unwrap_or_default();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(name.into_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "bench",
            "domainName": headers.get("host").cloned().unwrap_or_default(),
            "domainPrefix": "bench",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": "",
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params.into_iter().collect::<BTreeMap<_, _>>());
    }
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) => event["body"] = text.into(),
            Err(_) => {
                event["body"] = B64.encode(body).into();
                event["isBase64Encoded"] = true.into();
            }
        }
    }
    Bytes::from(event.to_string())
}

/// The function's response document as HTTP; one without `statusCode` is a 200 JSON body.
fn response(document: &Bytes) -> Response<Full<Bytes>> {
    let Ok(doc) = serde_json::from_slice::<Value>(document) else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"message":"Internal Server Error"}"#,
        );
    };
    let Some(status) = doc.get("statusCode") else {
        return plain(StatusCode::OK, document.clone());
    };
    let status = status
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = doc["body"].as_str().unwrap_or_default();
    let body = if doc["isBase64Encoded"] == true {
        B64.decode(body).unwrap_or_default().into()
    } else {
        Bytes::copy_from_slice(body.as_bytes())
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(map) = doc["headers"].as_object() {
        for (name, value) in map {
            if let (Ok(name), Some(Ok(value))) = (
                name.parse::<hyper::header::HeaderName>(),
                value.as_str().map(str::parse),
            ) {
                headers.insert(name, value);
            }
        }
    }
    for cookie in doc["cookies"].as_array().into_iter().flatten() {
        if let Some(Ok(value)) = cookie.as_str().map(str::parse) {
            headers.append(hyper::header::SET_COOKIE, value);
        }
    }
    response
}

fn plain(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(json) = "application/json".parse() {
        response.headers_mut().insert("content-type", json);
    }
    response
}
