//! CQL2 filters (OGC API – Features Part 3): cql2-text and cql2-json parsed into one tree,
//! resolved against the fields a view may see, and evaluated on stored features.
//!
//! Supported: comparisons (`=`, `<>`, `<`, `<=`, `>`, `>=`), `LIKE` (`%`, `_`), `IN`,
//! `BETWEEN`, `IS [NOT] NULL`, `AND`/`OR`/`NOT` (three-valued, as SQL: a comparison with a
//! null is unknown, and only true selects), `CASEI`, and the spatial predicates
//! `S_INTERSECTS`, `S_DISJOINT`, `S_WITHIN`, `S_CONTAINS` with WKT, `BBOX(…)` or GeoJSON
//! literals in lon/lat. The `cql2` crate was tried first; its `geo` 0.33 cannot share a
//! build with this crate's `geo` 0.31 (conflicting `i_overlay`).
//!
//! Hostile input: text longer than [`MAX_TEXT`], nesting deeper than [`MAX_DEPTH`], a list
//! longer than [`MAX_LIST`] or geometry literals with more than [`MAX_VERTICES`] vertices
//! are refused with a message, never parsed into unbounded work.

use geo::{BoundingRect, Contains, Coord, Intersects};

use crate::access::View;
use crate::store::{Feature, LayerSnapshot, Shape, Value};
use crate::tile::lonlat_to_mercator;

/// Longest filter text accepted.
pub const MAX_TEXT: usize = 8 * 1024;
/// Deepest nesting of expressions.
pub const MAX_DEPTH: usize = 32;
/// Most items in an `IN` list.
pub const MAX_LIST: usize = 1_000;
/// Most vertices in the geometry literals of one filter.
pub const MAX_VERTICES: usize = 10_000;

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

/// A scalar operand: a property or a literal, optionally case-folded (`CASEI`).
#[derive(Debug, Clone)]
pub enum Scalar {
    Prop(String),
    Lit(Lit),
    CaseI(Box<Scalar>),
}

/// A spatial operand.
#[derive(Debug, Clone)]
pub enum Spatial {
    /// The feature's geometry (the queryable `geometry`).
    Geometry,
    /// A literal in lon/lat, converted to Web Mercator.
    Lit(geo::Geometry<f64>),
}

/// A parsed filter, before its properties are resolved.
#[derive(Debug, Clone)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(&'static str, Scalar, Scalar),
    Like(Scalar, Scalar),
    In(Scalar, Vec<Scalar>),
    Between(Scalar, Scalar, Scalar),
    IsNull(Scalar),
    Spatial(&'static str, Spatial, Spatial),
    Bool(bool),
}

// ---------------------------------------------------------------- cql2-text

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Op(&'static str),
}

#[allow(clippy::too_many_lines)] // one arm per token kind
fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        match ch {
            _ if ch.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            '[' => {
                out.push(Tok::LBracket);
                i += 1;
            }
            ']' => {
                out.push(Tok::RBracket);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '=' => {
                out.push(Tok::Op("="));
                i += 1;
            }
            '<' | '>' => {
                let next = c.get(i + 1).copied();
                let op = match (ch, next) {
                    ('<', Some('>')) => "<>",
                    ('<', Some('=')) => "<=",
                    ('>', Some('=')) => ">=",
                    ('<', _) => "<",
                    _ => ">",
                };
                i += op.len();
                out.push(Tok::Op(op));
            }
            '\'' | '"' => {
                let quote = ch;
                let mut v = String::new();
                i += 1;
                loop {
                    match c.get(i) {
                        None => return Err("a quote is not closed".into()),
                        Some(&q) if q == quote => {
                            if c.get(i + 1) == Some(&quote) {
                                v.push(quote);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(&x) => {
                            v.push(x);
                            i += 1;
                        }
                    }
                }
                out.push(if quote == '\'' {
                    Tok::Str(v)
                } else {
                    Tok::Quoted(v)
                });
            }
            _ if ch.is_ascii_digit()
                || ch == '.'
                || (ch == '-'
                    && c.get(i + 1)
                        .is_some_and(|d| d.is_ascii_digit() || *d == '.')) =>
            {
                let start = i;
                i += 1;
                while i < c.len()
                    && (c[i].is_ascii_digit()
                        || c[i] == '.'
                        || c[i] == 'e'
                        || c[i] == 'E'
                        || ((c[i] == '-' || c[i] == '+') && matches!(c[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let text: String = c[start..i].iter().collect();
                let n: f64 = text
                    .parse()
                    .map_err(|_| format!("`{text}` is not a number"))?;
                out.push(Tok::Num(n));
            }
            _ if ch.is_alphanumeric() || ch == '_' => {
                let start = i;
                while i < c.len()
                    && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == ':' || c[i] == '.')
                {
                    i += 1;
                }
                out.push(Tok::Ident(c[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected `{other}`")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    vertices: usize,
}

fn kw(t: Option<&Tok>, word: &str) -> bool {
    matches!(t, Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(word))
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.pos + k)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, t: &Tok, what: &str) -> Result<(), String> {
        if self.peek() == Some(t) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected {what}"))
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.enter()?;
        let mut terms = vec![self.and()?];
        while kw(self.peek(), "or") {
            self.pos += 1;
            terms.push(self.and()?);
        }
        self.depth -= 1;
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut terms = vec![self.not()?];
        while kw(self.peek(), "and") {
            self.pos += 1;
            terms.push(self.not()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::And(terms)
        })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if kw(self.peek(), "not") {
            self.pos += 1;
            self.enter()?;
            let e = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(&Tok::RParen, "`)`")?;
            return Ok(e);
        }
        if let Some(Tok::Ident(w)) = self.peek() {
            let w = w.to_ascii_lowercase();
            if let Some(op) = spatial_op(&w) {
                if self.peek_at(1) == Some(&Tok::LParen) {
                    self.pos += 2;
                    let a = self.spatial_arg()?;
                    self.expect(&Tok::Comma, "`,` between the two geometries")?;
                    let b = self.spatial_arg()?;
                    self.expect(&Tok::RParen, "`)`")?;
                    return Ok(Expr::Spatial(op, a, b));
                }
            }
            if (w == "true" || w == "false")
                && !matches!(self.peek_at(1), Some(Tok::Op(_)))
                && !kw(self.peek_at(1), "is")
            {
                self.pos += 1;
                return Ok(Expr::Bool(w == "true"));
            }
        }
        let left = self.scalar()?;
        let negated = if kw(self.peek(), "not") {
            self.pos += 1;
            true
        } else {
            false
        };
        let e = match self.next() {
            Some(Tok::Op(op)) if !negated => Expr::Cmp(op, left, self.scalar()?),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("like") => {
                Expr::Like(left, self.scalar()?)
            }
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("between") => {
                let lo = self.scalar()?;
                if !kw(self.peek(), "and") {
                    return Err("BETWEEN needs `AND`".into());
                }
                self.pos += 1;
                Expr::Between(left, lo, self.scalar()?)
            }
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("in") => {
                self.expect(&Tok::LParen, "`(` after IN")?;
                let mut list = vec![self.scalar()?];
                while self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                    list.push(self.scalar()?);
                    if list.len() > MAX_LIST {
                        return Err(format!("an IN list longer than {MAX_LIST}"));
                    }
                }
                self.expect(&Tok::RParen, "`)` after the IN list")?;
                Expr::In(left, list)
            }
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("is") && !negated => {
                let not = kw(self.peek(), "not");
                if not {
                    self.pos += 1;
                }
                if !kw(self.peek(), "null") {
                    return Err("IS needs `NULL` or `NOT NULL`".into());
                }
                self.pos += 1;
                let e = Expr::IsNull(left);
                return Ok(if not { Expr::Not(Box::new(e)) } else { e });
            }
            _ => return Err("expected a comparison, LIKE, IN, BETWEEN or IS NULL".into()),
        };
        Ok(if negated { Expr::Not(Box::new(e)) } else { e })
    }

    fn scalar(&mut self) -> Result<Scalar, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Scalar::Lit(Lit::Str(s))),
            Some(Tok::Num(n)) => Ok(Scalar::Lit(Lit::Num(n))),
            Some(Tok::Quoted(p)) => Ok(Scalar::Prop(p)),
            Some(Tok::Ident(w)) => {
                let lower = w.to_ascii_lowercase();
                if lower == "casei" && self.peek() == Some(&Tok::LParen) {
                    self.pos += 1;
                    self.enter()?;
                    let inner = self.scalar()?;
                    self.depth -= 1;
                    self.expect(&Tok::RParen, "`)` after CASEI")?;
                    return Ok(Scalar::CaseI(Box::new(inner)));
                }
                match lower.as_str() {
                    "true" => Ok(Scalar::Lit(Lit::Bool(true))),
                    "false" => Ok(Scalar::Lit(Lit::Bool(false))),
                    "null" => Ok(Scalar::Lit(Lit::Null)),
                    _ if self.peek() == Some(&Tok::LParen) => {
                        Err(format!("`{w}(…)` is not a supported function"))
                    }
                    _ => Ok(Scalar::Prop(w)),
                }
            }
            _ => Err("expected a property or a value".into()),
        }
    }

    fn spatial_arg(&mut self) -> Result<Spatial, String> {
        match self.peek().cloned() {
            Some(Tok::Ident(w) | Tok::Quoted(w)) if self.peek_at(1) != Some(&Tok::LParen) => {
                self.pos += 1;
                if w.eq_ignore_ascii_case("geometry") {
                    Ok(Spatial::Geometry)
                } else {
                    Err(format!("`{w}`: the spatial queryable is `geometry`"))
                }
            }
            Some(Tok::Ident(w)) => {
                self.pos += 1;
                self.expect(&Tok::LParen, "`(`")?;
                let g = self.wkt_body(&w.to_ascii_lowercase())?;
                Ok(Spatial::Lit(g))
            }
            _ => Err("expected `geometry` or a geometry literal".into()),
        }
    }

    fn coord(&mut self) -> Result<Coord<f64>, String> {
        let (Some(Tok::Num(x)), Some(Tok::Num(y))) = (self.next(), self.next()) else {
            return Err("a position must be `lon lat`".into());
        };
        // An optional third ordinate is ignored.
        if let Some(Tok::Num(_)) = self.peek() {
            self.pos += 1;
        }
        self.vertices += 1;
        if self.vertices > MAX_VERTICES {
            return Err(format!(
                "geometry literals with more than {MAX_VERTICES} vertices"
            ));
        }
        mercator(x, y)
    }

    /// `(x y, x y …)` after its `(` was read: the list and its `)`.
    fn coords(&mut self) -> Result<Vec<Coord<f64>>, String> {
        let mut v = vec![self.coord()?];
        while self.peek() == Some(&Tok::Comma) {
            self.pos += 1;
            v.push(self.coord()?);
        }
        self.expect(&Tok::RParen, "`)`")?;
        Ok(v)
    }

    /// `((…), (…))` after its `(`: rings or lines.
    fn coord_lists(&mut self) -> Result<Vec<Vec<Coord<f64>>>, String> {
        let mut v = Vec::new();
        loop {
            self.expect(&Tok::LParen, "`(`")?;
            v.push(self.coords()?);
            if self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.expect(&Tok::RParen, "`)`")?;
        Ok(v)
    }

    fn wkt_body(&mut self, kind: &str) -> Result<geo::Geometry<f64>, String> {
        use geo::{LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon};
        let poly = |rings: Vec<Vec<Coord<f64>>>| {
            let mut it = rings.into_iter().map(LineString);
            let ext = it.next().unwrap_or_else(|| LineString(vec![]));
            Polygon::new(ext, it.collect())
        };
        Ok(match kind {
            "point" => {
                let c = self.coord()?;
                self.expect(&Tok::RParen, "`)`")?;
                Point(c).into()
            }
            "linestring" => LineString(self.coords()?).into(),
            "polygon" => poly(self.coord_lists()?).into(),
            "multipoint" => {
                // Both `MULTIPOINT(1 2, 3 4)` and `MULTIPOINT((1 2), (3 4))`.
                let pts = if self.peek() == Some(&Tok::LParen) {
                    self.coord_lists()?.into_iter().flatten().collect()
                } else {
                    self.coords()?
                };
                MultiPoint(pts.into_iter().map(Point).collect()).into()
            }
            "multilinestring" => {
                MultiLineString(self.coord_lists()?.into_iter().map(LineString).collect()).into()
            }
            "multipolygon" => {
                let mut polys = Vec::new();
                loop {
                    self.expect(&Tok::LParen, "`(`")?;
                    polys.push(poly(self.coord_lists()?));
                    if self.peek() == Some(&Tok::Comma) {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                self.expect(&Tok::RParen, "`)`")?;
                MultiPolygon(polys).into()
            }
            "bbox" => {
                let mut n = Vec::new();
                loop {
                    match self.next() {
                        Some(Tok::Num(v)) => n.push(v),
                        _ => return Err("BBOX needs 4 numbers".into()),
                    }
                    match self.next() {
                        Some(Tok::Comma) => {}
                        Some(Tok::RParen) => break,
                        _ => return Err("BBOX needs 4 numbers".into()),
                    }
                }
                bbox(&n)?
            }
            other => return Err(format!("`{other}` is not a geometry literal")),
        })
    }
}

fn spatial_op(w: &str) -> Option<&'static str> {
    match w {
        "s_intersects" => Some("s_intersects"),
        "s_disjoint" => Some("s_disjoint"),
        "s_within" => Some("s_within"),
        "s_contains" => Some("s_contains"),
        _ => None,
    }
}

fn mercator(lon: f64, lat: f64) -> Result<Coord<f64>, String> {
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        return Err(format!("`{lon} {lat}` is not a lon/lat position (CRS84)"));
    }
    let (x, y) = lonlat_to_mercator(lon, lat.clamp(-85.06, 85.06));
    Ok(Coord { x, y })
}

fn bbox(n: &[f64]) -> Result<geo::Geometry<f64>, String> {
    let (w, s, e, nn) = match n {
        [w, s, e, n] | [w, s, _, e, n, _] => (*w, *s, *e, *n),
        _ => return Err("a bbox has 4 (or 6) numbers".into()),
    };
    if w > e || s > nn {
        return Err("a bbox runs west, south, east, north".into());
    }
    Ok(geo::Rect::new(mercator(w, s)?, mercator(e, nn)?)
        .to_polygon()
        .into())
}

/// Parses cql2-text.
///
/// # Errors
/// A message naming what is wrong, fit for a 400.
pub fn parse_text(s: &str) -> Result<Expr, String> {
    if s.len() > MAX_TEXT {
        return Err(format!("a filter longer than {MAX_TEXT} bytes"));
    }
    let toks = lex(s)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        vertices: 0,
    };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err("unexpected text after the filter".into());
    }
    Ok(e)
}

// ---------------------------------------------------------------- cql2-json

struct JsonParser {
    vertices: usize,
}

impl JsonParser {
    fn expr(&mut self, v: &serde_json::Value, depth: usize) -> Result<Expr, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH}"));
        }
        if let Some(b) = v.as_bool() {
            return Ok(Expr::Bool(b));
        }
        let op = v["op"]
            .as_str()
            .ok_or("an expression is {\"op\": …, \"args\": […]}")?
            .to_ascii_lowercase();
        let args = v["args"].as_array().ok_or("`args` must be an array")?;
        let n = |k: usize| -> Result<(), String> {
            if args.len() == k {
                Ok(())
            } else {
                Err(format!("`{op}` takes {k} arguments"))
            }
        };
        Ok(match op.as_str() {
            "and" | "or" => {
                if args.len() < 2 {
                    return Err(format!("`{op}` takes at least 2 arguments"));
                }
                let list = args
                    .iter()
                    .map(|a| self.expr(a, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                if op == "and" {
                    Expr::And(list)
                } else {
                    Expr::Or(list)
                }
            }
            "not" => {
                n(1)?;
                Expr::Not(Box::new(self.expr(&args[0], depth + 1)?))
            }
            "=" | "<>" | "<" | "<=" | ">" | ">=" => {
                n(2)?;
                let op: &'static str = match op.as_str() {
                    "=" => "=",
                    "<>" => "<>",
                    "<" => "<",
                    "<=" => "<=",
                    ">" => ">",
                    _ => ">=",
                };
                Expr::Cmp(
                    op,
                    Self::scalar(&args[0], depth)?,
                    Self::scalar(&args[1], depth)?,
                )
            }
            "like" => {
                n(2)?;
                Expr::Like(
                    Self::scalar(&args[0], depth)?,
                    Self::scalar(&args[1], depth)?,
                )
            }
            "between" => {
                n(3)?;
                Expr::Between(
                    Self::scalar(&args[0], depth)?,
                    Self::scalar(&args[1], depth)?,
                    Self::scalar(&args[2], depth)?,
                )
            }
            "in" => {
                n(2)?;
                let list = args[1].as_array().ok_or("`in` takes a value and a list")?;
                if list.len() > MAX_LIST {
                    return Err(format!("an IN list longer than {MAX_LIST}"));
                }
                Expr::In(
                    Self::scalar(&args[0], depth)?,
                    list.iter()
                        .map(|x| Self::scalar(x, depth))
                        .collect::<Result<_, _>>()?,
                )
            }
            "isnull" => {
                n(1)?;
                Expr::IsNull(Self::scalar(&args[0], depth)?)
            }
            other => match spatial_op(other) {
                Some(sop) => {
                    n(2)?;
                    Expr::Spatial(sop, self.spatial(&args[0])?, self.spatial(&args[1])?)
                }
                None => return Err(format!("`{other}` is not a supported operator")),
            },
        })
    }

    fn scalar(v: &serde_json::Value, depth: usize) -> Result<Scalar, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH}"));
        }
        Ok(match v {
            serde_json::Value::String(s) => Scalar::Lit(Lit::Str(s.clone())),
            serde_json::Value::Number(n) => Scalar::Lit(Lit::Num(n.as_f64().unwrap_or(f64::NAN))),
            serde_json::Value::Bool(b) => Scalar::Lit(Lit::Bool(*b)),
            serde_json::Value::Null => Scalar::Lit(Lit::Null),
            serde_json::Value::Object(o) => {
                if let Some(p) = o.get("property").and_then(|p| p.as_str()) {
                    Scalar::Prop(p.to_string())
                } else if o
                    .get("op")
                    .and_then(|x| x.as_str())
                    .is_some_and(|x| x.eq_ignore_ascii_case("casei"))
                {
                    let a = v["args"].get(0).ok_or("`casei` takes one argument")?;
                    Scalar::CaseI(Box::new(Self::scalar(a, depth + 1)?))
                } else {
                    return Err("expected a property, a value or casei".into());
                }
            }
            serde_json::Value::Array(_) => return Err("a list is allowed only after `in`".into()),
        })
    }

    fn spatial(&mut self, v: &serde_json::Value) -> Result<Spatial, String> {
        if let Some(p) = v.get("property").and_then(|p| p.as_str()) {
            return if p.eq_ignore_ascii_case("geometry") {
                Ok(Spatial::Geometry)
            } else {
                Err(format!("`{p}`: the spatial queryable is `geometry`"))
            };
        }
        if let Some(b) = v.get("bbox").and_then(|b| b.as_array()) {
            let n: Vec<f64> = b.iter().filter_map(serde_json::Value::as_f64).collect();
            return bbox(&n).map(Spatial::Lit);
        }
        let pos = |p: &serde_json::Value, count: &mut usize| -> Result<Coord<f64>, String> {
            *count += 1;
            if *count > MAX_VERTICES {
                return Err(format!(
                    "geometry literals with more than {MAX_VERTICES} vertices"
                ));
            }
            match (
                p.get(0).and_then(serde_json::Value::as_f64),
                p.get(1).and_then(serde_json::Value::as_f64),
            ) {
                (Some(x), Some(y)) => mercator(x, y),
                _ => Err("a position must be [lon, lat]".into()),
            }
        };
        let list = |v: &serde_json::Value, count: &mut usize| -> Result<Vec<Coord<f64>>, String> {
            v.as_array()
                .ok_or("expected an array of positions")?
                .iter()
                .map(|p| pos(p, count))
                .collect()
        };
        let rings =
            |v: &serde_json::Value, count: &mut usize| -> Result<geo::Polygon<f64>, String> {
                let mut it = v
                    .as_array()
                    .ok_or("expected an array of rings")?
                    .iter()
                    .map(|r| list(r, count).map(geo::LineString));
                let ext = it.next().ok_or("a polygon needs a ring")??;
                Ok(geo::Polygon::new(ext, it.collect::<Result<_, _>>()?))
            };
        let c = &v["coordinates"];
        let count = &mut self.vertices;
        let g: geo::Geometry<f64> = match v["type"].as_str() {
            Some("Point") => geo::Point(pos(c, count)?).into(),
            Some("LineString") => geo::LineString(list(c, count)?).into(),
            Some("Polygon") => rings(c, count)?.into(),
            Some("MultiPoint") => {
                geo::MultiPoint(list(c, count)?.into_iter().map(geo::Point).collect()).into()
            }
            Some("MultiLineString") => geo::MultiLineString(
                c.as_array()
                    .ok_or("expected lines")?
                    .iter()
                    .map(|l| list(l, count).map(geo::LineString))
                    .collect::<Result<_, _>>()?,
            )
            .into(),
            Some("MultiPolygon") => geo::MultiPolygon(
                c.as_array()
                    .ok_or("expected polygons")?
                    .iter()
                    .map(|p| rings(p, count))
                    .collect::<Result<_, _>>()?,
            )
            .into(),
            _ => {
                return Err(
                    "expected `{\"property\": \"geometry\"}`, a bbox or a GeoJSON geometry".into(),
                )
            }
        };
        Ok(Spatial::Lit(g))
    }
}

/// Parses cql2-json.
///
/// # Errors
/// A message naming what is wrong, fit for a 400.
pub fn parse_json(s: &str) -> Result<Expr, String> {
    if s.len() > MAX_TEXT {
        return Err(format!("a filter longer than {MAX_TEXT} bytes"));
    }
    let v: serde_json::Value =
        serde_json::from_str(s).map_err(|e| format!("the filter is not JSON: {e}"))?;
    JsonParser { vertices: 0 }.expr(&v, 0)
}

// ---------------------------------------------------------------- resolving and evaluating

/// An operand with its property resolved to a field index.
#[derive(Debug, Clone)]
enum Operand {
    Field(usize, bool),
    Lit(Lit, bool),
}

/// A filter bound to one layer and view: properties are field indices.
#[derive(Debug, Clone)]
pub struct Filter(Node);

#[derive(Debug, Clone)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Cmp(&'static str, Operand, Operand),
    Like(Operand, Operand),
    In(Operand, Vec<Operand>),
    Between(Operand, Operand, Operand),
    IsNull(Operand),
    Spatial(&'static str, Spatial, Spatial),
    Bool(bool),
}

impl Filter {
    /// Binds `e` to the fields of `layer` that `view` sees. A property it does not see is
    /// refused exactly as one that does not exist, so the answer tells nothing of hidden
    /// fields.
    ///
    /// # Errors
    /// The unknown property's name.
    pub fn bind(e: &Expr, layer: &LayerSnapshot, view: &View) -> Result<Self, String> {
        fn operand(
            s: &Scalar,
            layer: &LayerSnapshot,
            view: &View,
            ci: bool,
        ) -> Result<Operand, String> {
            match s {
                Scalar::Lit(l) => Ok(Operand::Lit(l.clone(), ci)),
                Scalar::CaseI(inner) => operand(inner, layer, view, true),
                Scalar::Prop(p) => layer
                    .fields
                    .iter()
                    .position(|f| f.name == *p && view.sees_field(&layer.def, f))
                    .map(|i| Operand::Field(i, ci))
                    .ok_or_else(|| format!("`{p}` is not a queryable of this collection")),
            }
        }
        fn node(e: &Expr, layer: &LayerSnapshot, view: &View) -> Result<Node, String> {
            let op = |s: &Scalar| operand(s, layer, view, false);
            Ok(match e {
                Expr::And(v) => Node::And(
                    v.iter()
                        .map(|x| node(x, layer, view))
                        .collect::<Result<_, _>>()?,
                ),
                Expr::Or(v) => Node::Or(
                    v.iter()
                        .map(|x| node(x, layer, view))
                        .collect::<Result<_, _>>()?,
                ),
                Expr::Not(x) => Node::Not(Box::new(node(x, layer, view)?)),
                Expr::Cmp(o, a, b) => Node::Cmp(o, op(a)?, op(b)?),
                Expr::Like(a, b) => Node::Like(op(a)?, op(b)?),
                Expr::In(a, l) => Node::In(op(a)?, l.iter().map(op).collect::<Result<_, _>>()?),
                Expr::Between(a, lo, hi) => Node::Between(op(a)?, op(lo)?, op(hi)?),
                Expr::IsNull(a) => Node::IsNull(op(a)?),
                Expr::Spatial(o, a, b) => Node::Spatial(o, a.clone(), b.clone()),
                Expr::Bool(b) => Node::Bool(*b),
            })
        }
        node(e, layer, view).map(Filter)
    }

    /// A box (Web Mercator) every feature the filter can pass touches, when its spatial
    /// predicates say so (`S_INTERSECTS`/`S_WITHIN` with a literal, alone or in an `AND`):
    /// the spatial index then picks the candidates.
    #[must_use]
    pub fn bbox_hint(&self) -> Option<crate::store::PartBox> {
        fn hint(n: &Node) -> Option<crate::store::PartBox> {
            match n {
                Node::Spatial(op, a, b) => {
                    let (("s_intersects" | "s_within", Spatial::Geometry, Spatial::Lit(lit))
                    | ("s_intersects" | "s_contains", Spatial::Lit(lit), Spatial::Geometry)) =
                        (*op, a, b)
                    else {
                        return None;
                    };
                    let r = lit.bounding_rect()?;
                    Some(crate::store::PartBox {
                        min: r.min(),
                        max: r.max(),
                    })
                }
                Node::And(v) => v.iter().find_map(hint),
                _ => None,
            }
        }
        hint(&self.0)
    }

    /// Whether `f` passes (unknown, as with a null compared, does not).
    #[must_use]
    pub fn matches(&self, f: &Feature) -> bool {
        eval(&self.0, f) == Some(true)
    }
}

/// A value being compared, borrowed from the feature or the filter (no allocation per
/// feature).
#[derive(Clone, Copy)]
enum V<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Null,
}

fn lit_of<'a>(o: &'a Operand, f: &'a Feature) -> (V<'a>, bool) {
    match o {
        Operand::Lit(l, ci) => (
            match l {
                Lit::Str(s) => V::Str(s),
                Lit::Num(n) => V::Num(*n),
                Lit::Bool(b) => V::Bool(*b),
                Lit::Null => V::Null,
            },
            *ci,
        ),
        Operand::Field(i, ci) => (
            match f.values.get(*i) {
                Some(Value::Str(s)) => V::Str(s),
                Some(Value::Int(n)) => V::Num(*n as f64),
                Some(Value::Float(n)) => V::Num(*n),
                Some(Value::Bool(b)) => V::Bool(*b),
                Some(Value::Null) | None => V::Null,
            },
            *ci,
        ),
    }
}

/// Orders two values; `None` when either is null or they cannot be compared.
fn order(a: &(V, bool), b: &(V, bool)) -> Option<std::cmp::Ordering> {
    let ci = a.1 || b.1;
    let text = |x: &str, y: &str| {
        if ci {
            x.to_lowercase().cmp(&y.to_lowercase())
        } else {
            x.cmp(y)
        }
    };
    match (a.0, b.0) {
        (V::Num(x), V::Num(y)) => x.partial_cmp(&y),
        (V::Str(x), V::Str(y)) => Some(text(x, y)),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(&y)),
        // A number against text: as text (a code stored as text, asked for as a number).
        (V::Num(x), V::Str(y)) => Some(text(&num_text(x), y)),
        (V::Str(x), V::Num(y)) => Some(text(x, &num_text(y))),
        _ => None,
    }
}

fn num_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

/// SQL LIKE: `%` any run, `_` one character, `\` escapes.
fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let mut p: Vec<(char, bool)> = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                p.push((n, true));
            }
        } else {
            p.push((c, false));
        }
    }
    // Iterative matching with backtracking to the last `%` (linear in practice).
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(('%', false)) => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&(c, lit)) if (c == '_' && !lit) || c == t[ti] => {
                ti += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&(c, lit)| c == '%' && !lit)
}

fn eval(n: &Node, f: &Feature) -> Option<bool> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match n {
        Node::Bool(b) => Some(*b),
        Node::And(v) => {
            let mut out = Some(true);
            for x in v {
                match eval(x, f) {
                    Some(false) => return Some(false),
                    None => out = None,
                    Some(true) => {}
                }
            }
            out
        }
        Node::Or(v) => {
            let mut out = Some(false);
            for x in v {
                match eval(x, f) {
                    Some(true) => return Some(true),
                    None => out = None,
                    Some(false) => {}
                }
            }
            out
        }
        Node::Not(x) => eval(x, f).map(|b| !b),
        Node::Cmp(op, a, b) => {
            let o = order(&lit_of(a, f), &lit_of(b, f))?;
            Some(match *op {
                "=" => o == Equal,
                "<>" => o != Equal,
                "<" => o == Less,
                "<=" => o != Greater,
                ">" => o == Greater,
                _ => o != Less,
            })
        }
        Node::Like(a, b) => {
            let (a, b) = (lit_of(a, f), lit_of(b, f));
            let ci = a.1 || b.1;
            let text: std::borrow::Cow<str> = match a.0 {
                V::Str(s) => s.into(),
                V::Num(x) => num_text(x).into(),
                V::Null => return None,
                V::Bool(x) => x.to_string().into(),
            };
            let V::Str(pat) = b.0 else { return None };
            Some(if ci {
                like(&text.to_lowercase(), &pat.to_lowercase())
            } else {
                like(&text, pat)
            })
        }
        Node::In(a, list) => {
            let a = lit_of(a, f);
            if matches!(a.0, V::Null) {
                return None;
            }
            let mut unknown = false;
            for x in list {
                match order(&a, &lit_of(x, f)) {
                    Some(Equal) => return Some(true),
                    None => unknown = true,
                    _ => {}
                }
            }
            if unknown {
                None
            } else {
                Some(false)
            }
        }
        Node::Between(a, lo, hi) => {
            let a = lit_of(a, f);
            let l = order(&a, &lit_of(lo, f))?;
            let h = order(&a, &lit_of(hi, f))?;
            Some(l != Less && h != Greater)
        }
        Node::IsNull(a) => Some(matches!(lit_of(a, f).0, V::Null)),
        Node::Spatial(op, a, b) => Some(spatial(op, a, b, f)),
    }
}

/// The feature's shape as a `geo` geometry (Web Mercator).
fn shape_geometry(s: &Shape) -> geo::Geometry<f64> {
    match s {
        Shape::Points(p) => geo::MultiPoint(p.iter().map(|c| geo::Point(*c)).collect()).into(),
        Shape::Lines(l) => geo::MultiLineString(
            l.iter()
                .map(|p| geo::LineString(p.coords.clone()))
                .collect(),
        )
        .into(),
        Shape::Polygons(p) => geo::MultiPolygon(
            p.iter()
                .filter_map(crate::store::PolygonPart::to_polygon)
                .collect(),
        )
        .into(),
    }
}

fn spatial(op: &str, a: &Spatial, b: &Spatial, f: &Feature) -> bool {
    fn pick<'a>(
        s: &'a Spatial,
        feature: Option<&'a geo::Geometry<f64>>,
    ) -> Option<&'a geo::Geometry<f64>> {
        match s {
            Spatial::Lit(l) => Some(l),
            Spatial::Geometry => feature,
        }
    }
    // A quick no when the literal's box misses the feature's.
    for s in [a, b] {
        if let Spatial::Lit(l) = s {
            if let Some(r) = l.bounding_rect() {
                let miss = r.max().x < f.bbox.min.x
                    || r.min().x > f.bbox.max.x
                    || r.max().y < f.bbox.min.y
                    || r.min().y > f.bbox.max.y;
                if miss {
                    return op == "s_disjoint";
                }
            }
        }
    }
    let uses_feature = matches!(a, Spatial::Geometry) || matches!(b, Spatial::Geometry);
    let feature = uses_feature.then(|| shape_geometry(&f.shape));
    let (Some(ga), Some(gb)) = (pick(a, feature.as_ref()), pick(b, feature.as_ref())) else {
        return false;
    };
    match op {
        "s_intersects" => ga.intersects(gb),
        "s_disjoint" => !ga.intersects(gb),
        "s_within" => gb.contains(ga),
        _ => ga.contains(gb),
    }
}

/// Whether a filter tree uses a spatial predicate (for the OpenAPI/queryables wording).
#[must_use]
pub fn is_spatial(e: &Expr) -> bool {
    match e {
        Expr::Spatial(..) => true,
        Expr::And(v) | Expr::Or(v) => v.iter().any(is_spatial),
        Expr::Not(x) => is_spatial(x),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_as_sql() {
        assert!(like("第一種住居地域", "第一種%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abc", "a_"));
        assert!(like("a%c", "a\\%c"));
        assert!(!like("abc", "a\\%c"));
        assert!(like("", "%"));
    }

    #[test]
    fn text_and_json_parse_to_the_same_shape() {
        for s in [
            "a = 1 AND (b LIKE 'x%' OR c IN (1, 2, 3))",
            "NOT x BETWEEN 1 AND 5",
            "x IS NOT NULL",
            "S_INTERSECTS(geometry, POLYGON((138 34, 139 34, 139 35, 138 34)))",
            "S_WITHIN(geometry, BBOX(138, 34, 139, 35))",
            "CASEI(name) = casei('ABC')",
        ] {
            parse_text(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        let j = r#"{"op":"and","args":[{"op":"=","args":[{"property":"a"},1]},{"op":"s_intersects","args":[{"property":"geometry"},{"type":"Point","coordinates":[138.3,34.9]}]}]}"#;
        assert!(matches!(parse_json(j), Ok(Expr::And(v)) if v.len() == 2));
    }

    #[test]
    fn hostile_filters_are_refused() {
        let deep = format!("{}a = 1{}", "(".repeat(100), ")".repeat(100));
        assert!(parse_text(&deep).expect_err("refused").contains("deeper"));
        let nots = format!("{}a = 1", "NOT ".repeat(100));
        assert!(parse_text(&nots).expect_err("refused").contains("deeper"));
        assert!(parse_text(&"x".repeat(MAX_TEXT + 1)).is_err());
        let list = format!("a IN ({})", vec!["1"; MAX_LIST + 5].join(","));
        assert!(parse_text(&list).expect_err("refused").contains("IN list"));
        let mut j = String::from(r#"{"op":"=","args":[{"property":"a"},1]}"#);
        for _ in 0..40 {
            j = format!(r#"{{"op":"not","args":[{j}]}}"#);
        }
        assert!(parse_json(&j).expect_err("refused").contains("deeper"));
        for bad in [
            "a =",
            "a = 'open",
            "= 1",
            "a LIKE",
            "S_INTERSECTS(geometry)",
            "a = 1 b",
            "f(x) = 1",
            "POINT(1 2) = a",
        ] {
            assert!(parse_text(bad).is_err(), "{bad}");
        }
    }
}
