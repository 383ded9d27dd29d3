//! The proxy's wire-protocol parsers on arbitrary bytes: startup packet parsing, the frame
//! scanner in both directions (fed in arbitrary pieces, interleaved as the two pumps would)
//! and the protocol observer behind them. Checks: no panic, and the scanner accounts for
//! every byte it accepted.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use querycomb_proxy::frame::{
    parse_startup, startup_body_len, Direction, FrameLimits, FrameScanner,
};
use querycomb_proxy::observe::{Observer, SessionInfo};

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let cut = control as usize * rest.len() / 256;
    let (client, server) = rest.split_at(cut);
    if let Some(prefix) = client.first_chunk::<4>() {
        let _ = startup_body_len(*prefix);
    }
    let _ = parse_startup(client);

    let limits = FrameLimits {
        max_bulk: 1 << 20,
        max_other: 1 << 16,
        observe_cap: 4096,
    };
    let mut observer = Observer::new(SessionInfo::default(), control & 1 == 1);
    let mut to_server = FrameScanner::new(Direction::ClientToServer, limits);
    let mut to_client = FrameScanner::new(Direction::ServerToClient, limits);
    let now = Instant::now();
    let piece = 1 + control as usize % 17;
    let mut client_pieces = client.chunks(piece);
    let mut server_pieces = server.chunks(piece + 3);
    let (mut client_ok, mut server_ok) = (true, true);
    let (mut client_fed, mut server_fed) = (0u64, 0u64);
    loop {
        let (c, s) = (client_pieces.next(), server_pieces.next());
        if c.is_none() && s.is_none() {
            break;
        }
        if let Some(chunk) = c.filter(|_| client_ok) {
            client_ok = to_server
                .feed(chunk, |m| observer.client_message(m, now))
                .is_ok();
            client_fed += chunk.len() as u64;
            if client_ok {
                assert_eq!(to_server.offset(), client_fed);
            }
        }
        if let Some(chunk) = s.filter(|_| server_ok) {
            to_client.keep_data_rows(observer.wants_rows());
            server_ok = to_client
                .feed(chunk, |m| observer.server_message(m, now))
                .is_ok();
            server_fed += chunk.len() as u64;
            if server_ok {
                assert_eq!(to_client.offset(), server_fed);
            }
        }
        observer.take_events().for_each(drop);
    }
});
