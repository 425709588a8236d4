//! The HTTP API's JSON: parsing answers (values, matrices, vectors, errors) and telling the user what an answer means.

use super::*;

/// `data.resultType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultType {
    /// Instant vector.
    Vector,
    /// Range vector.
    Matrix,
    /// One number.
    Scalar,
    /// One string (no numbers: no series).
    String,
}

/// One series: its labels and its points `(unix seconds, value)`; non-finite values are NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels (`__name__` included when present).
    pub labels: BTreeMap<String, String>,
    /// Points in the order the server sent them.
    pub points: Vec<(f64, f64)>,
}

/// What a query comes to: the answer, or why there is none.
pub(crate) type Answer = Result<QueryResult, PromError>;

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// What kind of result.
    pub result_type: ResultType,
    /// The series (a scalar is one series without labels).
    pub series: Vec<Series>,
    /// `warnings` (e.g. partial results).
    pub warnings: Vec<String>,
    /// `infos`.
    pub infos: Vec<String>,
}

/// A parsed body: success, or the API's error.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiBody {
    /// `status: success`.
    Success(QueryResult),
    /// `status: error`.
    Error {
        /// `errorType`.
        error_type: String,
        /// `error`.
        error: String,
    },
}

/// Parse a sample value as Prometheus writes it (`"1.5"`, `"NaN"`, `"+Inf"`, `"-Inf"`).
/// Non-finite values come back as NaN (missing); `None` when it is not a number.
pub(crate) fn parse_value(s: &str) -> Option<f64> {
    let v = match s {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" | "-Inf" => f64::NAN,
        _ => s.trim().parse::<f64>().ok()?,
    };
    Some(if v.is_finite() { v } else { f64::NAN })
}

pub(super) fn parse_point(v: &serde_json::Value) -> Result<(f64, f64), String> {
    let arr = v
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| format!("a point is not [time, \"value\"]: {}", clip(&v.to_string())))?;
    let t = match &arr[0] {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    }
    .filter(|t| t.is_finite())
    .ok_or_else(|| {
        format!(
            "a point's time is not a number: {}",
            clip(&arr[0].to_string())
        )
    })?;
    let val = match &arr[1] {
        serde_json::Value::String(s) => parse_value(s),
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "a point's value is not a number in a string: {}",
            clip(&arr[1].to_string())
        )
    })?;
    Ok((t, val))
}

pub(super) fn parse_labels(
    v: Option<&serde_json::Value>,
) -> Result<BTreeMap<String, String>, String> {
    let Some(v) = v else {
        return Ok(BTreeMap::new());
    };
    let obj = v
        .as_object()
        .ok_or_else(|| "a series' \"metric\" is not an object".to_string())?;
    obj.iter()
        .map(|(k, v)| {
            let s = v
                .as_str()
                .ok_or_else(|| format!("label {} is not a string", clip(k)))?;
            // names go to the screen, the log and the journal: no escape codes, no newlines
            if s.chars().chain(k.chars()).any(char::is_control) {
                return Err(format!("label {} holds control characters", clip(k)));
            }
            Ok((k.clone(), s.to_string()))
        })
        .collect()
}

/// Warnings and infos kept of one answer.
const MAX_WARNINGS: usize = 16;

/// Dropped series named one by one in the warnings (the rest are counted).
pub(super) const MAX_DROPPED_NAMED: usize = 4;

/// Why an answer body was not taken.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BodyError {
    /// It is not the API's JSON: what is wrong.
    Malformed(String),
    /// It holds more series than the limit allows.
    TooManySeries {
        /// The limit.
        limit: usize,
    },
}

/// Parse an API answer body with the default series limit; `Err` says why it is not the
/// API's JSON.
pub fn parse_body(body: &[u8]) -> Result<ApiBody, String> {
    match parse_body_limited(body, crate::config::default_max_series()) {
        Ok(b) => Ok(b),
        Err(BodyError::Malformed(m)) => Err(m),
        Err(BodyError::TooManySeries { limit }) => Err(format!("more than {limit} series")),
    }
}

/// The answer's envelope; `result` stays raw until `resultType` is known.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    status: Option<serde_json::Value>,
    #[serde(rename = "errorType")]
    error_type: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
    warnings: Option<Texts>,
    infos: Option<Texts>,
    #[serde(borrow)]
    data: Option<Data<'a>>,
}

#[derive(serde::Deserialize)]
struct Data<'a> {
    #[serde(rename = "resultType")]
    result_type: Option<serde_json::Value>,
    #[serde(borrow)]
    result: Option<&'a serde_json::value::RawValue>,
}

/// The first [`MAX_WARNINGS`] texts of a list, clipped; the rest are skipped unread.
struct Texts(Vec<String>);

impl<'de> serde::Deserialize<'de> for Texts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Texts, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Texts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of texts")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Texts, A::Error> {
                let mut out = Vec::new();
                while out.len() < MAX_WARNINGS {
                    match a.next_element::<serde_json::Value>()? {
                        Some(serde_json::Value::String(s)) => out.push(clip(&s)),
                        Some(v) => out.push(clip(&v.to_string())),
                        None => return Ok(Texts(out)),
                    }
                }
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Texts(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// One point, or why it is not one (a bad point drops its series, not the answer).
struct RawPoint(Result<(f64, f64), String>);

impl<'de> serde::Deserialize<'de> for RawPoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RawPoint, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(RawPoint(parse_point(&v)))
    }
}

/// One series as sent; checked by [`RawSeries::take`].
#[derive(serde::Deserialize)]
struct RawSeries {
    metric: Option<serde_json::Value>,
    value: Option<RawPoint>,
    values: Option<Vec<RawPoint>>,
    histogram: Option<serde::de::IgnoredAny>,
    histograms: Option<serde::de::IgnoredAny>,
}

impl RawSeries {
    /// The series, or why it is dropped (its labels, when they parse, and the reason).
    fn take(self, is_vector: bool) -> Result<Series, (Option<BTreeMap<String, String>>, String)> {
        let labels = parse_labels(self.metric.as_ref()).map_err(|e| (None, e))?;
        let points = if is_vector {
            match self.value {
                Some(RawPoint(p)) => vec![p],
                // a native histogram sample ("histogram"): no float value
                None if self.histogram.is_some() => Vec::new(),
                None => return Err((Some(labels), "a vector sample has no \"value\"".into())),
            }
        } else {
            match self.values {
                Some(ps) => ps.into_iter().map(|RawPoint(p)| p).collect(),
                None if self.histograms.is_some() => Vec::new(),
                None => return Err((Some(labels), "a matrix series has no \"values\"".into())),
            }
        };
        match points.into_iter().collect::<Result<Vec<_>, _>>() {
            Ok(points) => Ok(Series { labels, points }),
            Err(e) => Err((Some(labels), e)),
        }
    }
}

/// The series of a vector or matrix, at most `limit` of them (more: the parse stops with an
/// error and `too_many` is set).
struct SeriesList<'c> {
    limit: usize,
    too_many: &'c std::cell::Cell<bool>,
}

impl<'de> serde::de::DeserializeSeed<'de> for SeriesList<'_> {
    type Value = Vec<RawSeries>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<RawSeries>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for SeriesList<'_> {
    type Value = Vec<RawSeries>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of series")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Vec<RawSeries>, A::Error> {
        let mut out = Vec::new();
        while let Some(s) = a.next_element::<RawSeries>()? {
            if out.len() == self.limit {
                self.too_many.set(true);
                return Err(serde::de::Error::custom("too many series"));
            }
            out.push(s);
        }
        Ok(out)
    }
}

/// `{model="a",namespace="n"}`, clipped, for saying which series was dropped.
fn show_labels(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    clip(&format!("{{{}}}", inner.join(",")))
}

fn as_text(v: Option<&serde_json::Value>) -> Option<&str> {
    v.and_then(|v| v.as_str())
}

/// Parse an API answer body holding at most `max_series` series. A series that is not well
/// formed (a label or a value that is not a string, a value that is not a number) is dropped
/// and named in the warnings; the others are kept. Memory stays near the body's size: the
/// answer is read into typed points, never into a whole JSON tree.
pub(crate) fn parse_body_limited(body: &[u8], max_series: usize) -> Result<ApiBody, BodyError> {
    let bad = |m: String| BodyError::Malformed(m);
    let env: Envelope = serde_json::from_slice(body).map_err(|e| {
        if body.first().is_some_and(|b| *b == b'{') || e.is_eof() {
            bad(format!("not the API's JSON ({})", clip(&e.to_string())))
        } else {
            bad(format!(
                "not JSON or not a JSON object ({})",
                clip(&e.to_string())
            ))
        }
    })?;
    let status = as_text(env.status.as_ref())
        .ok_or_else(|| bad("no \"status\" in the answer".to_string()))?;
    match status {
        "success" => {}
        "error" => {
            return Ok(ApiBody::Error {
                error_type: as_text(env.error_type.as_ref())
                    .map_or_else(|| "unknown".to_string(), clip),
                // upstream text: clipped and without control characters
                error: crate::redact::text(
                    as_text(env.error.as_ref()).unwrap_or("(no error message)"),
                    400,
                ),
            });
        }
        other => return Err(bad(format!("unknown status {:?}", clip(other)))),
    }
    let mut warnings = env.warnings.map(|t| t.0).unwrap_or_default();
    let infos = env.infos.map(|t| t.0).unwrap_or_default();
    let data = env
        .data
        .ok_or_else(|| bad("no \"data\" object in a success answer".to_string()))?;
    let rt = as_text(data.result_type.as_ref())
        .ok_or_else(|| bad("no data.resultType".to_string()))?
        .to_string();
    let result = data
        .result
        .ok_or_else(|| bad("no data.result".to_string()))?;
    let (result_type, series) = match rt.as_str() {
        "vector" | "matrix" => {
            let is_vector = rt == "vector";
            let too_many = std::cell::Cell::new(false);
            let seed = SeriesList {
                limit: max_series,
                too_many: &too_many,
            };
            let mut de = serde_json::Deserializer::from_str(result.get());
            let raw = serde::de::DeserializeSeed::deserialize(seed, &mut de).map_err(|e| {
                if too_many.get() {
                    BodyError::TooManySeries { limit: max_series }
                } else {
                    bad(format!("data.result of a {rt}: {}", clip(&e.to_string())))
                }
            })?;
            let mut series = Vec::with_capacity(raw.len());
            let mut dropped = 0usize;
            for r in raw {
                match r.take(is_vector) {
                    Ok(s) => series.push(s),
                    Err((labels, why)) => {
                        dropped += 1;
                        if dropped <= MAX_DROPPED_NAMED {
                            let who = labels.as_ref().map_or_else(
                                || "a series".to_string(),
                                |l| format!("series {}", show_labels(l)),
                            );
                            warnings.push(format!("{who} dropped: {why}"));
                        }
                    }
                }
            }
            if dropped > MAX_DROPPED_NAMED {
                warnings.push(format!(
                    "{} more malformed series dropped",
                    dropped - MAX_DROPPED_NAMED
                ));
            }
            let t = if is_vector {
                ResultType::Vector
            } else {
                ResultType::Matrix
            };
            (t, series)
        }
        "scalar" => {
            let v: serde_json::Value = serde_json::from_str(result.get())
                .map_err(|e| bad(format!("data.result: {}", clip(&e.to_string()))))?;
            (
                ResultType::Scalar,
                vec![Series {
                    labels: BTreeMap::new(),
                    points: vec![parse_point(&v).map_err(bad)?],
                }],
            )
        }
        "string" => (ResultType::String, Vec::new()),
        other => return Err(bad(format!("unknown resultType {:?}", clip(other)))),
    };
    Ok(ApiBody::Success(QueryResult {
        result_type,
        series,
        warnings,
        infos,
    }))
}

pub(super) fn clip(s: &str) -> String {
    crate::redact::text(s, 160)
}

/// Turn an HTTP status and body into a result (pure; `url` and `query` go into the errors),
/// with the default series limit.
pub fn interpret(status: u16, body: &[u8], url: &str, query: &str) -> Answer {
    interpret_limited(
        status,
        body,
        url,
        query,
        crate::config::default_max_series(),
    )
}

/// [`interpret`] with at most `max_series` series in the answer.
pub fn interpret_limited(
    status: u16,
    body: &[u8],
    url: &str,
    query: &str,
    max_series: usize,
) -> Answer {
    let parsed = match parse_body_limited(body, max_series) {
        Ok(b) => Ok(b),
        Err(BodyError::Malformed(m)) => Err(m),
        Err(BodyError::TooManySeries { limit }) => {
            return Err(PromError::TooLarge {
                url: url.to_string(),
                query: query.to_string(),
                limit: AnswerLimit::Series(limit),
            });
        }
    };
    let q = || query.to_string();
    let u = || url.to_string();
    match parsed {
        Ok(ApiBody::Success(r)) if (200..300).contains(&status) => Ok(r),
        Ok(ApiBody::Success(_)) | Ok(ApiBody::Error { .. }) | Err(_)
            if status >= 500 || status == 429 =>
        {
            let message = match parsed {
                Ok(ApiBody::Error { error_type, error }) => format!("{error_type}: {error}"),
                _ => clip(&String::from_utf8_lossy(body)),
            };
            Err(PromError::Server {
                url: u(),
                query: q(),
                status,
                message,
            })
        }
        Ok(ApiBody::Error { error_type, error }) => match error_type.as_str() {
            "bad_data" => Err(PromError::BadData {
                url: u(),
                query: q(),
                message: error,
            }),
            "execution" => Err(PromError::Execution {
                url: u(),
                query: q(),
                message: error,
            }),
            "timeout" | "canceled" | "unavailable" | "internal" => Err(PromError::Server {
                url: u(),
                query: q(),
                status,
                message: format!("{error_type}: {error}"),
            }),
            _ => Err(PromError::Rejected {
                url: u(),
                query: q(),
                status,
                message: format!("{error_type}: {error}"),
                hint: hint(status),
            }),
        },
        Err(detail) if (200..300).contains(&status) => Err(PromError::Malformed {
            url: u(),
            query: q(),
            detail,
        }),
        Ok(ApiBody::Success(_)) | Err(_) => Err(PromError::Rejected {
            url: u(),
            query: q(),
            status,
            message: clip(&String::from_utf8_lossy(body)),
            hint: hint(status),
        }),
    }
}

pub(super) fn hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "; check prometheus.bearer_token",
        404 => "; check prometheus.url (it is the server's base URL, without /api/v1)",
        _ => "",
    }
}

pub use crate::redact::url as redact_url;

/// The short label of a source at `url`: `prometheus host:port`.
pub(crate) fn source_label(url: &str) -> String {
    let r = redact_url(url);
    let rest = r.split_once("://").map_or(r.as_str(), |(_, x)| x);
    let host = rest.split('/').next().unwrap_or(rest);
    format!("prometheus {host}")
}
