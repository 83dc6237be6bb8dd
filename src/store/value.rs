//! Attribute values and their types, as stored and served.

use serde::{Deserialize, Serialize};

/// An attribute's type after mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Integer,
    Float,
    Boolean,
}

impl FieldType {
    /// The TileJSON / OGC name of the type.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "String",
            FieldType::Integer | FieldType::Float => "Number",
            FieldType::Boolean => "Boolean",
        }
    }

    /// The JSON Schema type of the values (queryables, the `OpenAPI` document).
    #[must_use]
    pub fn json_type(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Float => "number",
            FieldType::Boolean => "boolean",
        }
    }
}

/// One attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
}

impl Value {
    /// Converts to `kind`; `None` if the value cannot be read as that type.
    #[must_use]
    pub fn coerce(self, kind: FieldType) -> Option<Value> {
        Some(match (self, kind) {
            (Value::Null, _) => Value::Null,
            (v @ Value::Str(_), FieldType::String)
            | (v @ Value::Int(_), FieldType::Integer)
            | (v @ Value::Float(_), FieldType::Float)
            | (v @ Value::Bool(_), FieldType::Boolean) => v,
            (Value::Str(s), FieldType::Integer) => {
                let t = s.trim();
                if t.is_empty() {
                    Value::Null
                } else {
                    Value::Int(t.parse().ok()?)
                }
            }
            (Value::Str(s), FieldType::Float) => {
                let t = s.trim();
                if t.is_empty() {
                    Value::Null
                } else {
                    Value::Float(t.parse().ok()?)
                }
            }
            (Value::Str(s), FieldType::Boolean) => match s.trim() {
                "" => Value::Null,
                "1" | "true" | "TRUE" | "True" | "○" | "〇" | "y" | "Y" | "yes" => {
                    Value::Bool(true)
                }
                "0" | "false" | "FALSE" | "False" | "×" | "n" | "N" | "no" => Value::Bool(false),
                _ => return None,
            },
            (Value::Int(i), FieldType::Float) => Value::Float(i as f64),
            (Value::Int(i), FieldType::String) => Value::Str(i.to_string().into()),
            (Value::Int(i), FieldType::Boolean) => Value::Bool(i != 0),
            (Value::Float(f), FieldType::String) => Value::Str(f.to_string().into()),
            (Value::Float(f), FieldType::Integer) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Value::Int(f as i64)
            }
            (Value::Bool(b), FieldType::String) => Value::Str(b.to_string().into()),
            (Value::Bool(b), FieldType::Integer) => Value::Int(i64::from(b)),
            _ => return None,
        })
    }

    /// The natural type of a value, `None` for null.
    #[must_use]
    pub fn kind(&self) -> Option<FieldType> {
        match self {
            Value::Null => None,
            Value::Bool(_) => Some(FieldType::Boolean),
            Value::Int(_) => Some(FieldType::Integer),
            Value::Float(_) => Some(FieldType::Float),
            Value::Str(_) => Some(FieldType::String),
        }
    }

    /// The value as a label-table key: integers and strings as written.
    #[must_use]
    pub fn key(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Str(s) => Some(s.to_string()),
        }
    }

    /// The order of a table sorted by this field: numbers by value, text with its numbers
    /// read as numbers (2丁目 before 10丁目, 二丁目 before 十丁目), nulls last.
    #[must_use]
    pub fn sort_cmp(&self, other: &Value) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let num = |v: &Value| match v {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        };
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Greater,
            (_, Value::Null) => Ordering::Less,
            (Value::Str(a), Value::Str(b)) => {
                let key = crate::query::search::natural_key;
                key(a).cmp(&key(b)).then_with(|| a.cmp(b))
            }
            (a, b) => match (num(a), num(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                // A number before text, as a spreadsheet sorts.
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            },
        }
    }

    /// As JSON, for GeoJSON and catalog output.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
            }
            Value::Str(s) => s.as_ref().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_reads_numbers_in_text_and_puts_nulls_last() {
        let mut v = vec![
            Value::Str("本町10丁目".into()),
            Value::Null,
            Value::Str("本町2丁目".into()),
            Value::Str("本町02丁目a".into()),
        ];
        v.sort_by(Value::sort_cmp);
        assert_eq!(
            v,
            vec![
                Value::Str("本町2丁目".into()),
                Value::Str("本町02丁目a".into()),
                Value::Str("本町10丁目".into()),
                Value::Null,
            ]
        );
        let mut n = vec![
            Value::Float(2.5),
            Value::Null,
            Value::Int(-1),
            Value::Int(10),
        ];
        n.sort_by(Value::sort_cmp);
        assert_eq!(
            n,
            vec![
                Value::Int(-1),
                Value::Float(2.5),
                Value::Int(10),
                Value::Null
            ]
        );
    }

    #[test]
    fn coercion() {
        assert_eq!(
            Value::Str("200".into()).coerce(FieldType::Integer),
            Some(Value::Int(200))
        );
        assert_eq!(
            Value::Str(" ".into()).coerce(FieldType::Integer),
            Some(Value::Null)
        );
        assert_eq!(Value::Str("x".into()).coerce(FieldType::Integer), None);
        assert_eq!(
            Value::Str("○".into()).coerce(FieldType::Boolean),
            Some(Value::Bool(true))
        );
        assert_eq!(
            Value::Int(3).coerce(FieldType::String),
            Some(Value::Str("3".into()))
        );
        assert_eq!(
            Value::Float(60.0).coerce(FieldType::Integer),
            Some(Value::Int(60))
        );
    }
}
