//! The `[hazard]` section of a layer file: what a layer means for a resident standing in it.
//! Parsed here; read by the hazard report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::layer::I18n;

/// Which hazard a layer maps (for the resident's point report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HazardKind {
    /// 洪水浸水想定区域 (depth).
    Flood,
    /// 浸水継続時間.
    FloodDuration,
    /// 家屋倒壊等氾濫想定区域.
    HouseCollapse,
    /// 内水浸水想定区域.
    InlandFlood,
    /// 高潮浸水想定区域.
    StormSurge,
    /// 津波浸水想定.
    Tsunami,
    /// 土砂災害警戒区域.
    LandslideWarning,
    /// 土砂災害特別警戒区域.
    LandslideSpecialWarning,
    /// 地すべり防止区域.
    LandslidePrevention,
}

/// A rank's label and its severity (1 = least) for colouring and ordering.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RankLabel {
    pub ja: String,
    pub en: String,
    pub level: Option<u8>,
}

/// `[hazard]`: what the layer means for a resident standing in it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HazardCfg {
    pub kind: HazardKind,
    /// The scenario, e.g. 想定最大規模 (L2) or 計画規模 (L1).
    pub scenario: Option<I18n>,
    /// The served field holding the rank code (depth class, 現象 …).
    pub rank_field: Option<String>,
    /// Rank code → label. The sample states MLIT's depth classes as configuration a city can correct.
    #[serde(default)]
    pub ranks: BTreeMap<String, RankLabel>,
    /// The served field holding the notice (告示) number, if any.
    pub notice_field: Option<String>,
    /// The served field holding the notice date, if any.
    pub date_field: Option<String>,
    /// A one-line action hint for residents.
    pub action: Option<I18n>,
}

impl HazardKind {
    /// Every kind, in the order a report lists them.
    pub const ALL: [HazardKind; 9] = [
        HazardKind::Flood,
        HazardKind::FloodDuration,
        HazardKind::HouseCollapse,
        HazardKind::InlandFlood,
        HazardKind::StormSurge,
        HazardKind::Tsunami,
        HazardKind::LandslideSpecialWarning,
        HazardKind::LandslideWarning,
        HazardKind::LandslidePrevention,
    ];

    /// The kind's name for residents.
    #[must_use]
    pub fn label(self) -> I18n {
        let (ja, en) = match self {
            HazardKind::Flood => ("洪水浸水想定区域", "River flood inundation area"),
            HazardKind::FloodDuration => ("浸水継続時間", "Flood duration"),
            HazardKind::HouseCollapse => (
                "家屋倒壊等氾濫想定区域",
                "Area where floods may destroy houses",
            ),
            HazardKind::InlandFlood => ("内水浸水想定区域", "Inland (sewer) flooding area"),
            HazardKind::StormSurge => ("高潮浸水想定区域", "Storm-surge inundation area"),
            HazardKind::Tsunami => ("津波浸水想定区域", "Tsunami inundation area"),
            HazardKind::LandslideSpecialWarning => {
                ("土砂災害特別警戒区域", "Landslide special warning zone")
            }
            HazardKind::LandslideWarning => ("土砂災害警戒区域", "Landslide warning zone"),
            HazardKind::LandslidePrevention => ("地すべり防止区域", "Landslide prevention area"),
        };
        I18n {
            ja: ja.into(),
            en: en.into(),
        }
    }
}

/// `[shelter]`: the layer lists evacuation sites, and says for which hazards each opens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShelterCfg {
    /// The served field with the shelter's name.
    pub name_field: String,
    /// The served field with its address, if any.
    pub address_field: Option<String>,
    /// Hazard kind → the boolean served field telling whether the site opens for it.
    #[serde(default)]
    pub opens_for: BTreeMap<HazardKind, String>,
    /// The only hazards every site of this layer is for (津波避難ビル: `["tsunami"]`):
    /// for any other hazard found, the report says the site is not meant for it.
    #[serde(default)]
    pub only_for: Vec<HazardKind>,
}
