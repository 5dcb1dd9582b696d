//! The China EC2 workload's user data: a boot script that hands the instance its bootstrap
//! settings (the ARNs of its trust anchor, profile, role and key secret, its certificate, the
//! target region, the user to set up for).
//!
//! For now the script only writes those settings as JSON to `/etc/xpart/bootstrap.json`; the
//! installer (credential helper, AWS config) that reads them comes later. User data is readable
//! by anything on the instance that can reach the metadata service, so it carries no secret: the
//! client key travels through Secrets Manager (`key_secret`), and a private key found in the
//! settings is refused.

use serde_json::{json, Value as Json};

use crate::spec::PartitionDef;

/// Where the script writes the settings.
pub const SETTINGS_PATH: &str = "/etc/xpart/bootstrap.json";

/// EC2's limit on user data, before base64.
pub const MAX_USER_DATA: usize = 16 * 1024;

/// The heredoc delimiter: JSON puts every string in quotes, so no line of it can equal this.
const EOF_MARK: &str = "XPART_BOOTSTRAP_EOF";

/// The user data script for an instance in partition `def` with bootstrap `settings` (the
/// instance's `bootstrap` mapping, references rendered).
pub fn user_data(settings: &Json, def: &PartitionDef) -> Result<String, String> {
    let Json::Object(map) = settings else {
        return Err("bootstrap: expected a mapping of settings".into());
    };
    if let Some(path) = private_key(settings, "bootstrap") {
        return Err(format!(
            "{path} holds a private key; user data is readable on the instance, so pass the key \
             through a secret (key_secret) instead"
        ));
    }
    let doc = json!({
        "version": 1,
        "partition": def.partition.id(),
        "region": def.region,
        "settings": map,
    });
    let body = serde_json::to_string_pretty(&doc).map_err(|e| format!("bootstrap: {e}"))?;
    let script = format!(
        "#!/bin/bash\n\
         # Written by xpart: the workload's bootstrap settings (no secrets).\n\
         set -euo pipefail\n\
         umask 022\n\
         install -d -m 0755 /etc/xpart\n\
         cat > {SETTINGS_PATH}.tmp <<'{EOF_MARK}'\n\
         {body}\n\
         {EOF_MARK}\n\
         chmod 0644 {SETTINGS_PATH}.tmp\n\
         mv -f {SETTINGS_PATH}.tmp {SETTINGS_PATH}\n"
    );
    if script.len() > MAX_USER_DATA {
        return Err(format!("bootstrap: the user data is {} bytes; EC2 takes at most {MAX_USER_DATA}", script.len()));
    }
    Ok(script)
}

/// The path of the first string that holds a PEM private key.
fn private_key(v: &Json, path: &str) -> Option<String> {
    match v {
        Json::String(s) => s.contains("PRIVATE KEY-----").then(|| path.to_string()),
        Json::Array(a) => a.iter().enumerate().find_map(|(i, x)| private_key(x, &format!("{path}[{i}]"))),
        Json::Object(m) => m.iter().find_map(|(k, x)| private_key(x, &format!("{path}.{k}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::Partition;

    fn def() -> PartitionDef {
        PartitionDef {
            name: "china".into(),
            region: "cn-north-1".into(),
            partition: Partition::AwsCn,
            spec: serde_yaml::from_str("region: cn-north-1").unwrap(),
        }
    }

    #[test]
    fn writes_the_settings_as_json() {
        let s =
            json!({"run_as": "ubuntu", "certificate": "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n"});
        let script = user_data(&s, &def()).unwrap();
        assert!(script.starts_with("#!/bin/bash\n"));
        assert!(script.contains("chmod 0644 /etc/xpart/bootstrap.json.tmp"));
        let start = script.find("<<'XPART_BOOTSTRAP_EOF'\n").unwrap() + "<<'XPART_BOOTSTRAP_EOF'\n".len();
        let end = script.find("\nXPART_BOOTSTRAP_EOF\n").unwrap();
        let doc: Json = serde_json::from_str(&script[start..end]).unwrap();
        assert_eq!(doc["settings"], s);
        assert_eq!(doc["region"], "cn-north-1");
        assert_eq!(doc["partition"], "aws-cn");
        // The same settings give the same script (its hash is compared with the live one).
        assert_eq!(script, user_data(&s, &def()).unwrap());
    }

    #[test]
    fn refuses_private_keys() {
        let s = json!({"key": "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"});
        let err = user_data(&s, &def()).unwrap_err();
        assert!(err.contains("bootstrap.key"), "{err}");
    }
}
