//! The worker's `[[vrf]]` tables: names, VNIs, route targets, route
//! distinguishers and kernel tables, no two sharing a VNI or a table.

use std::collections::HashMap;

use ferry_wire::{RouteDistinguisher, RouteTarget};

use super::Validator;
use crate::config::raw::RawVrf;
use crate::config::{ConfigError, Vrf};

impl Validator<'_> {
    /// Every `[[vrf]]`, in order.
    pub(super) fn vrfs(&self, raw: Vec<RawVrf>) -> Result<Vec<Vrf>, ConfigError> {
        let mut vrfs = Vec::new();
        let mut vrf_names: HashMap<String, usize> = HashMap::new();
        let mut vnis: HashMap<u32, String> = HashMap::new();
        let mut tables: HashMap<u32, (String, String)> = HashMap::new();
        for (vi, v) in raw.into_iter().enumerate() {
            let k = |s: &str| format!("vrf[{vi}].{s}");
            let name = v
                .name
                .ok_or_else(|| self.err(k("name"), "missing: every VRF needs a name"))?;
            if name.is_empty()
                || name.len() > 12
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(self.err(k("name"), format!("{name:?}: use 1 to 12 letters, digits, '-' or '_' (it names kernel devices)")));
            }
            if let Some(prev) = vrf_names.insert(name.clone(), vi) {
                return Err(self.err(
                    k("name"),
                    format!("{name:?} is already the name of vrf[{prev}]"),
                ));
            }
            let vni = match v.vni {
                Some(n) => self.range(&k("vni"), n, 1, 0xff_ffff)? as u32,
                None => return Err(self.err(k("vni"), "missing: every VRF needs a VNI")),
            };
            if let Some(other) = vnis.insert(vni, name.clone()) {
                return Err(self.err(
                    k("vni"),
                    format!("VNI {vni} is already used by VRF {other:?}"),
                ));
            }
            let rt = |key: String, s: &str| -> Result<RouteTarget, ConfigError> {
                s.parse().map_err(
                    |e: ferry_wire::attribute::extended_community::ParseRouteTargetError| {
                        self.err(key, e.to_string())
                    },
                )
            };
            let mut import = Vec::new();
            let mut export = Vec::new();
            if let Some(t) = &v.route_target {
                let t = rt(k("route-target"), t)?;
                import.push(t);
                export.push(t);
            }
            for (i, t) in v.import.iter().enumerate() {
                import.push(rt(format!("vrf[{vi}].import[{i}]"), t)?);
            }
            for (i, t) in v.export.iter().enumerate() {
                export.push(rt(format!("vrf[{vi}].export[{i}]"), t)?);
            }
            if import.is_empty() || export.is_empty() {
                return Err(self.err(
                    k("route-target"),
                    "missing: give route-target, or both import and export",
                ));
            }
            let rd =
                v.rd.as_deref()
                    .map(|s| {
                        s.parse::<RouteDistinguisher>()
                            .map_err(|e| self.err(k("rd"), e.to_string()))
                    })
                    .transpose()?;
            let table = v
                .table
                .map(|t| self.range(&k("table"), t, 1, u32::MAX as i64))
                .transpose()?
                .map(|t| t as u32);
            if let Some(t) = table {
                if (253..=255).contains(&t) {
                    return Err(self.err(
                        k("table"),
                        format!("{t} is a reserved table (default, main, local)"),
                    ));
                }
            }
            let kernel_table = table.unwrap_or_else(|| Vrf::default_table(vni));
            let how = |t: Option<u32>, vni: u32| match t {
                Some(_) => "its table".to_string(),
                None => format!("its default table, 1000000 + VNI {vni}"),
            };
            if let Some((other, other_how)) = tables.get(&kernel_table) {
                return Err(self.err(
                    if table.is_some() { k("table") } else { k("vni") },
                    format!(
                        "VRF {name:?} would use kernel table {kernel_table} ({}), which is already VRF {other:?}'s ({other_how}): give one of them another table",
                        how(table, vni)
                    ),
                ));
            }
            tables.insert(kernel_table, (name.clone(), how(table, vni)));
            vrfs.push(Vrf {
                name,
                vni,
                import,
                export,
                rd,
                table,
            });
        }

        Ok(vrfs)
    }
}
