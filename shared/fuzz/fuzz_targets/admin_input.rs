//! The admin API's request validation (`ferroloop_admin_input`): funds in/out, participants,
//! activation, initial position and limits, limits, endpoints, settlement window close and
//! settlement creation, plus the number, name and path parameter readers.
//! Input: one selector byte, then the body (or the text of a reader).
#![no_main]

use ferroloop_admin_input::{input, requests};
use ferroloop_core::ledger_id::AccountId;
use ferroloop_fspiop::endpoint::AddressPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 12 {
        0 => drop(requests::parse_record(AccountId(7), body)),
        1 => {
            let (transfer_id, body) = ferroloop_fuzz::split_ff(body);
            if let Ok(transfer_id) = std::str::from_utf8(transfer_id) {
                let _ = requests::parse_finish(AccountId(7), transfer_id, body);
            }
        }
        2 => drop(requests::parse_activation(body)),
        3 => drop(requests::parse_participant(body)),
        4 => drop(requests::parse_initial(body)),
        5 => drop(requests::parse_limit_change(body)),
        6 => drop(requests::parse_endpoint(body, &AddressPolicy::default())),
        7 => drop(requests::parse_close(7, body)),
        8 => drop(requests::parse_create(body)),
        _ => readers(selector, body),
    }
});

fn readers(selector: u8, bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match selector % 12 {
        9 => {
            if let Ok(number) = input::parse_number(text) {
                let rule = input::NumberRule::new(input::Sign::NonNegative, 4, 18);
                let _ = input::check_number("n", number, rule);
            }
        }
        10 => drop(input::check_name("name", text)),
        _ => {
            let _ = input::path_id("id", text);
            let _ = input::parse_currency("currency", text);
        }
    }
}
