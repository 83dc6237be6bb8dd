//! Readings of a sensor layer's stations: parsing what a sensor posts, and what a
//! station's latest reading makes of its served attributes (value, time, age, level
//! among the station's thresholds, silent or not).

use serde_json::Value as Json;

use super::LiveError;
use crate::config::SensorCfg;
use crate::store::{FieldDef, Value};

/// Readings one request may post at most.
pub const MAX_BATCH: usize = 1_000;
/// A reading may be this far in the future (clocks drift), no more.
const FUTURE_SLACK_MS: i64 = 5 * 60 * 1000;
/// The level of a station whose reading is below every threshold it has.
pub const BELOW: &str = "normal";

/// The served field holding the level a station's latest reading reached.
pub const LEVEL_FIELD: &str = "reading_level";

/// One reading: when (UTC, milliseconds, and as stored) and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub at: String,
    pub ms: i64,
    pub value: f64,
}

/// A time as stored: UTC with milliseconds, so text order is time order.
#[must_use]
pub fn stored_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses an RFC 3339 time (any offset, e.g. `+09:00`).
#[must_use]
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// A stored reading's time back as milliseconds.
#[must_use]
pub fn ms_of(at: &str) -> i64 {
    parse_time(at).map_or(0, |t| t.timestamp_millis())
}

/// `{time, value}` or a list of them (at most [`MAX_BATCH`]), checked.
pub fn parse(body: &Json, now_ms: i64) -> Result<Vec<Reading>, LiveError> {
    let items: Vec<&Json> = match body {
        Json::Array(a) => a.iter().collect(),
        Json::Object(_) => vec![body],
        _ => {
            return Err(LiveError::Invalid(
                "expected a reading `{\"time\": …, \"value\": …}` or a list of them".into(),
            ))
        }
    };
    if items.is_empty() {
        return Err(LiveError::Invalid("no readings given".into()));
    }
    if items.len() > MAX_BATCH {
        return Err(LiveError::Invalid(format!(
            "{} readings in one request; at most {MAX_BATCH}",
            items.len()
        )));
    }
    let many = matches!(body, Json::Array(_));
    items
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let at = |what: &str| {
                if many {
                    format!("readings[{i}].{what}")
                } else {
                    what.to_string()
                }
            };
            let Json::Object(m) = r else {
                let what = if many {
                    format!("readings[{i}]")
                } else {
                    "the body".into()
                };
                return Err(LiveError::Invalid(format!(
                    "{what}: expected an object {{\"time\", \"value\"}}"
                )));
            };
            if let Some(k) = m.keys().find(|k| !["time", "value"].contains(&k.as_str())) {
                return Err(LiveError::Invalid(format!(
                    "{}: a reading has only `time` and `value`",
                    at(&k.chars().take(64).collect::<String>())
                )));
            }
            let time = m
                .get("time")
                .and_then(Json::as_str)
                .and_then(parse_time)
                .ok_or_else(|| {
                    LiveError::Invalid(format!(
                        "{}: expected an RFC 3339 time such as \"2026-06-30T14:20:00+09:00\"",
                        at("time")
                    ))
                })?;
            if time.timestamp_millis() > now_ms + FUTURE_SLACK_MS {
                return Err(LiveError::Invalid(format!(
                    "{}: {} is in the future",
                    at("time"),
                    stored_time(&time)
                )));
            }
            let value = m
                .get("value")
                .and_then(Json::as_f64)
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    LiveError::Invalid(format!("{}: expected a finite number", at("value")))
                })?;
            Ok(Reading {
                at: stored_time(&time),
                ms: time.timestamp_millis(),
                value,
            })
        })
        .collect()
}

/// The level `value` reaches among the station's thresholds (`values`, as served):
/// the highest level whose threshold it reaches, [`BELOW`] if none, `None` if the station
/// has no threshold set.
#[must_use]
pub fn level<'a>(
    cfg: &'a SensorCfg,
    fields: &[FieldDef],
    values: &[Value],
    value: f64,
) -> Option<&'a str> {
    let mut any = false;
    let mut reached = None;
    for l in &cfg.levels {
        let t = fields
            .iter()
            .position(|f| f.name == l.field)
            .and_then(|i| match values.get(i) {
                Some(Value::Float(f)) => Some(*f),
                Some(Value::Int(n)) => Some(*n as f64),
                _ => None,
            });
        if let Some(t) = t {
            any = true;
            if value >= t {
                reached = Some(l.field.as_str());
            }
        }
    }
    match reached {
        Some(l) => Some(l),
        None if any => Some(BELOW),
        None => None,
    }
}

/// What a station serves after its own fields: `reading`, `reading_at`, `reading_age_min`,
/// `reading_level`, `stale` (a station that never reported is stale).
#[must_use]
pub fn served(
    cfg: &SensorCfg,
    fields: &[FieldDef],
    values: &[Value],
    latest: Option<&Reading>,
    now_ms: i64,
) -> [Value; 5] {
    let Some(r) = latest else {
        return [
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Bool(true),
        ];
    };
    let age = (now_ms - r.ms).max(0);
    [
        Value::Float(r.value),
        Value::Str(r.at.as_str().into()),
        Value::Int(age / 60_000),
        level(cfg, fields, values, r.value).map_or(Value::Null, |l| Value::Str(l.into())),
        Value::Bool(age > cfg.interval.as_millis() as i64),
    ]
}

/// What changes with time alone: (age in minutes, stale).
#[must_use]
pub fn clock_state(cfg: &SensorCfg, latest: Option<&Reading>, now_ms: i64) -> (i64, bool) {
    match latest {
        None => (-1, true),
        Some(r) => {
            let age = (now_ms - r.ms).max(0);
            (age / 60_000, age > cfg.interval.as_millis() as i64)
        }
    }
}

/// Now, in milliseconds since 1970.
#[must_use]
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
