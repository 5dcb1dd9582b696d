//! The JSON Schema of plan files, generated from the plan's own types (editor completion).

use serde_json::{json, Value};

use super::types::{types, BlockUse, PlanFile};

/// The schema: the top level from `PlanFile`, each resource checked against its type's properties.
pub fn plan_schema() -> Value {
    let mut g = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let root = g.root_schema_for::<PlanFile>();
    let mut root = serde_json::to_value(root).expect("schema is JSON");
    let variants: Vec<Value> = types()
        .map(|t| {
            let props = serde_json::to_value((t.schema)(&mut g)).expect("schema is JSON");
            let mut v = json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["type"],
                "properties": {
                    "type": {"const": t.name},
                    "properties": props,
                    "depends_on": {"type": "array", "items": {"type": "string"}},
                },
            });
            if !t.is_local() {
                v["required"] = json!(["type", "partition"]);
                v["properties"]["partition"] =
                    json!({"type": "string", "description": "a key of `partitions`"});
            }
            v
        })
        .collect();
    let block_use = serde_json::to_value(g.subschema_for::<BlockUse>()).expect("schema is JSON");
    let defs = g.take_definitions(true);
    let root_defs = root
        .as_object_mut()
        .unwrap()
        .entry("$defs")
        .or_insert_with(|| json!({}));
    for (k, v) in defs {
        root_defs[k] = v;
    }
    // A resource, once: the plan's entries are one or an instantiation of a block, a block's
    // are resources only (blocks do not nest).
    root["$defs"]["Resource"] = json!({"oneOf": variants});
    let resource = json!({"$ref": "#/$defs/Resource"});
    root["$defs"]["BlockSpec"]["properties"]["resources"]["additionalProperties"] =
        resource.clone();
    root["properties"]["resources"]["additionalProperties"] =
        json!({"oneOf": [resource, block_use]});
    root["title"] = json!("xpart plan");
    root
}
