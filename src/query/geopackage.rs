//! A layer's features (those a caller may see, after any filter) as a GeoPackage, for staff
//! who open downloads in QGIS or a desktop GIS. Written by GDAL's own GPKG driver into GDAL's
//! in-memory file system, so nothing touches the disk and the file is exactly what GDAL
//! would write.

use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};
use gdal::vector::{Geometry, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType};
use gdal::DriverManager;

use crate::access::View;
use crate::store::{FieldType, LayerSnapshot, Value};

/// A GeoPackage of the features at `indices` of `layer`, with the fields at `visible`, in
/// WGS 84 longitude/latitude.
///
/// # Errors
/// What GDAL says when it cannot make the file.
pub fn write(
    layer: &LayerSnapshot,
    indices: &[usize],
    visible: &[usize],
    view: &View,
) -> Result<Vec<u8>, gdal::errors::GdalError> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = format!("/vsimem/chizu-{}-{n}.gpkg", std::process::id());
    let result = write_to(&path, layer, indices, visible, view);
    let bytes = result.and_then(|()| gdal::vsi::get_vsi_mem_file_bytes_owned(&path));
    let _ = gdal::vsi::unlink_mem_file(&path);
    bytes
}

fn write_to(
    path: &str,
    layer: &LayerSnapshot,
    indices: &[usize],
    visible: &[usize],
    view: &View,
) -> Result<(), gdal::errors::GdalError> {
    let driver = DriverManager::get_driver_by_name("GPKG")?;
    let mut ds = driver.create_vector_only(path)?;
    let mut srs = SpatialRef::from_epsg(4326)?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let mut tx = ds.start_transaction()?;
    let out = tx.create_layer(LayerOptions {
        name: layer.def.id.as_str(),
        srs: Some(&srs),
        ty: OGRwkbGeometryType::wkbUnknown,
        // GDAL's own row key is named apart from the fields, so it can be taken for none of
        // them; `id` is the feature's id as the API serves it.
        options: Some(&["FID=gpkg_fid"]),
    })?;
    let mut defs = vec![("id", OGRFieldType::OFTInteger64)];
    for &i in visible {
        let f = &layer.fields[i];
        let kind = match f.kind {
            FieldType::String => OGRFieldType::OFTString,
            FieldType::Integer | FieldType::Boolean => OGRFieldType::OFTInteger64,
            FieldType::Float => OGRFieldType::OFTReal,
        };
        defs.push((f.name.as_str(), kind));
    }
    out.create_defn_fields(&defs)?;
    let public = view.is_public();
    for &i in indices {
        let f = &layer.features[i];
        let mut feature = gdal::vector::Feature::new(out.defn())?;
        feature.set_field_integer64(0, i64::try_from(layer.served_id(f, public)).unwrap_or(-1))?;
        for (k, &fi) in visible.iter().enumerate() {
            match &f.values[fi] {
                Value::Null => feature.set_field_null(k + 1)?,
                Value::Bool(b) => feature.set_field_integer64(k + 1, i64::from(*b))?,
                Value::Int(v) => feature.set_field_integer64(k + 1, *v)?,
                Value::Float(v) => feature.set_field_double(k + 1, *v)?,
                Value::Str(s) => feature.set_field_string(k + 1, s)?,
            }
        }
        feature.set_geometry(Geometry::from_wkt(&super::geojson::wkt(&f.shape))?)?;
        feature.create(&out)?;
    }
    tx.commit()?;
    Ok(())
}
