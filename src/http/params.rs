//! Query-string parsing with the checks every route needs: a bounded length, no repeated
//! keys, numbers that are numbers, and unknown parameters refused by name.

use super::AppError;

/// Longest query string read (bytes).
pub const MAX_QUERY: usize = 4096;

/// The parsed query string.
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `raw`; every key must be in `allowed` unless `extra` accepts it.
    pub fn parse(
        raw: Option<&str>,
        allowed: &[&str],
        extra: impl Fn(&str) -> bool,
    ) -> Result<Self, AppError> {
        let raw = raw.unwrap_or("");
        if raw.len() > MAX_QUERY {
            return Err(AppError::BadRequest(format!(
                "query string longer than {MAX_QUERY} bytes"
            )));
        }
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
            if !allowed.contains(&k.as_ref()) && !extra(&k) {
                let mut names: Vec<&str> = allowed.to_vec();
                names.sort_unstable();
                return Err(AppError::BadRequest(format!(
                    "unknown parameter `{}`; expected: {}",
                    k.chars().take(40).collect::<String>(),
                    names.join(", ")
                )));
            }
            if out.iter().any(|(ok, _)| *ok == k) {
                return Err(AppError::BadRequest(format!("parameter `{k}` given twice")));
            }
            out.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(out))
    }

    #[must_use]
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    /// All pairs, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A finite number, if given.
    pub fn f64(&self, k: &str) -> Result<Option<f64>, AppError> {
        self.get(k)
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| AppError::BadRequest(format!("`{k}` must be a number")))
            })
            .transpose()
    }

    /// Required `lon` and `lat` in WGS84 degrees (latitude within Web Mercator's range).
    pub fn lonlat(&self) -> Result<(f64, f64), AppError> {
        let lon = self
            .f64("lon")?
            .ok_or_else(|| AppError::BadRequest("`lon` is required".into()))?;
        let lat = self
            .f64("lat")?
            .ok_or_else(|| AppError::BadRequest("`lat` is required".into()))?;
        if !(-180.0..=180.0).contains(&lon) {
            return Err(AppError::BadRequest(
                "`lon` must be between -180 and 180".into(),
            ));
        }
        if !(-85.05..=85.05).contains(&lat) {
            return Err(AppError::BadRequest(
                "`lat` must be between -85.05 and 85.05".into(),
            ));
        }
        Ok((lon, lat))
    }

    /// A whole number in `min..=max`, or `default`.
    pub fn int(&self, k: &str, default: u64, min: u64, max: u64) -> Result<u64, AppError> {
        let Some(v) = self.get(k) else {
            return Ok(default);
        };
        let n: u64 = v
            .trim()
            .parse()
            .map_err(|_| AppError::BadRequest(format!("`{k}` must be a whole number")))?;
        if !(min..=max).contains(&n) {
            return Err(AppError::BadRequest(format!(
                "`{k}` must be between {min} and {max}"
            )));
        }
        Ok(n)
    }

    /// `lang`: `ja` (default) or `en`.
    pub fn lang(&self) -> Result<crate::query::hazard::Lang, AppError> {
        match self.get("lang") {
            None => Ok(crate::query::hazard::Lang::Ja),
            Some(l) => crate::query::hazard::Lang::parse(l)
                .ok_or_else(|| AppError::BadRequest("`lang` must be ja or en".into())),
        }
    }

    /// `bbox=w,s,e,n` in WGS84 degrees, as an EPSG:3857 box.
    pub fn bbox(&self) -> Result<Option<crate::store::PartBox>, AppError> {
        let Some(v) = self.get("bbox") else {
            return Ok(None);
        };
        let n: Vec<f64> = v
            .split(',')
            .map(|s| s.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad_bbox())?;
        let [w, s, e, nn] = n[..] else {
            return Err(bad_bbox());
        };
        let ok = [w, s, e, nn].iter().all(|x| x.is_finite())
            && (-180.0..=180.0).contains(&w)
            && (-180.0..=180.0).contains(&e)
            && (-90.0..=90.0).contains(&s)
            && (-90.0..=90.0).contains(&nn)
            && w <= e
            && s <= nn;
        if !ok {
            return Err(bad_bbox());
        }
        let (x0, y0) = crate::tile::lonlat_to_mercator(w, s);
        let (x1, y1) = crate::tile::lonlat_to_mercator(e, nn);
        Ok(Some(crate::store::PartBox {
            min: geo::Coord { x: x0, y: y0 },
            max: geo::Coord { x: x1, y: y1 },
        }))
    }
}

fn bad_bbox() -> AppError {
    AppError::BadRequest(
        "`bbox` must be west,south,east,north in degrees (CRS84), west ≤ east, south ≤ north"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unknown_repeated_and_bad_numbers() {
        let none = |_: &str| false;
        assert!(Params::parse(Some("lon=1&lat=2"), &["lon", "lat"], none).is_ok());
        assert!(Params::parse(Some("lon=1&x=2"), &["lon", "lat"], none).is_err());
        assert!(Params::parse(Some("lon=1&lon=2"), &["lon", "lat"], none).is_err());
        let p = Params::parse(Some("lon=abc&lat=NaN"), &["lon", "lat"], none).expect("parses");
        assert!(p.lonlat().is_err());
        let p = Params::parse(Some("lon=200&lat=10"), &["lon", "lat"], none).expect("parses");
        assert!(p.lonlat().is_err());
        let p =
            Params::parse(Some("limit=99999999999999999999"), &["limit"], none).expect("parses");
        assert!(p.int("limit", 10, 1, 1000).is_err());
        let p = Params::parse(Some("bbox=1,2,3"), &["bbox"], none).expect("parses");
        assert!(p.bbox().is_err());
    }
}
