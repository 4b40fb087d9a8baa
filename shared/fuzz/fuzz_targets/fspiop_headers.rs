//! FSPIOP request header validation (`ferroloop_fspiop::headers`), as the API adapter runs it on
//! every transfer request, with ml-api-adapter's default versions and with FSPIOP 2.0 enabled.
//! Input: the request text format of `ferroloop_fuzz`.
#![no_main]

use ferroloop_fspiop::headers::{self, ProtocolVersion, VersionConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(request) = ferroloop_fuzz::request(data) else {
        return;
    };
    let resource = headers::resource_from_path(&request.path);
    let _ = headers::is_validated_resource(resource);
    for config in [
        VersionConfig::default(),
        VersionConfig::default().with_2_0(),
    ] {
        if let Ok(valid) =
            headers::validate_request_headers(&request.method, resource, &request.headers, &config)
        {
            // What the adapter reads next from a request that passed.
            assert!(!valid.source().is_empty());
            assert!(
                config
                    .content_versions
                    .iter()
                    .any(|v| { ProtocolVersion::parse(v) == Some(valid.content_version()) })
            );
            let _ = valid.destination();
        }
    }
    let lower = headers::lower_cased_headers(&request.headers);
    if let Some(accept) = lower.get("accept") {
        let _ = headers::parse_accept(resource, accept);
    }
    if let Some(content_type) = lower.get("content-type")
        && let Some(version) = headers::parse_content_type(resource, content_type)
        && let Some(parsed) = ProtocolVersion::parse(version)
    {
        let _ = headers::content_type_value(resource, parsed);
    }
    if let Some(date) = lower.get("date") {
        let _ = headers::is_rfc1123_date(date);
    }
    let versions: Vec<String> = lower.values().cloned().collect();
    let _ = headers::supported_versions_extension_list(&versions);
});
