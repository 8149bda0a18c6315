//! How calls end when the client is not tonic either: grpc-js
//! (`tests/node/client.js`) and grpcio (`interop.py calls`) through the
//! relay to grpc-go, grpcio and grpc-js servers. The official interop cases
//! `cancel_after_begin` and `cancel_after_first_response` run thirty times
//! each, so that a race shows: every one must read, in the capture's
//! `CallEnded.endings`, as the client's cancel (never OK, never nothing).
//! grpc-js cancels by half-closing and then resetting (Node's
//! `Http2Stream.close`), so the upstream's answer to the half-close races
//! the reset. Each case of both clients also runs a few times.

use loom_shared::pb::{EndKind, EndSide};
use loom_tests::endings::{Findings, Rig};
use loom_tests::peer::{self, ClientCase, Kind, Shape};

const CANCEL: u32 = 8;

/// Runs `cases` (`count` calls each) of `client` against `server` through
/// the relay and checks what the client saw and what the capture says.
async fn client_cases(client: Kind, server: Kind, cases: &[ClientCase], count: usize) {
    let mut rig = Rig::start(server, &[]).await;
    let mut found = Findings::new();
    // Calls of each method so far: the cases share methods.
    let mut seen = std::collections::HashMap::<Shape, usize>::new();
    for &case in cases {
        let label = format!("{} {} x{count}", client.name(), case.name());
        let results =
            peer::client_calls(client, rig.relay.relay_addr, &rig.peer, case, count).await;
        let wrong: Vec<_> = results
            .iter()
            .filter(|r| r.code != case.expected_code())
            .collect();
        found.check(wrong.is_empty(), || {
            format!(
                "{label}: {} calls did not end {}: {wrong:?}",
                wrong.len(),
                case.expected_code()
            )
        });
        let before = seen.entry(case.shape()).or_default();
        let ends = rig.ends(case.shape(), *before + count).await;
        let ends = &ends[*before..];
        *before += count;
        for (i, end) in ends.iter().enumerate() {
            let call = format!("{label}, call {i}");
            match case {
                ClientCase::Complete => {
                    found.ending(&call, end, EndSide::Upstream, &[EndKind::Trailers], Some(0));
                    found.status(&call, end, Some(0));
                }
                ClientCase::Deadline if server == Kind::GrpcGo => {
                    found.ending(
                        &call,
                        end,
                        EndSide::Client,
                        &[EndKind::Deadline],
                        Some(CANCEL),
                    );
                    found.client_ended(&call, end, 4);
                }
                // grpcio and grpc-js answer DEADLINE_EXCEEDED themselves
                // when the deadline passes, crossing the client's reset.
                ClientCase::Deadline => found.ending_either(
                    &call,
                    end,
                    &[
                        (EndSide::Client, &[EndKind::Deadline], Some(CANCEL)),
                        (EndSide::Upstream, &[EndKind::Trailers], Some(4)),
                    ],
                ),
                _ => {
                    found.ending(
                        &call,
                        end,
                        EndSide::Client,
                        &[EndKind::Reset, EndKind::Deadline],
                        Some(CANCEL),
                    );
                    let status = match end.ended_by().map(|e| e.kind()) {
                        Some(EndKind::Deadline) => 4,
                        _ => 1,
                    };
                    found.client_ended(&call, end, status);
                }
            }
        }
    }
    // Nothing else reached the relay (a retry, say).
    for (shape, n) in seen {
        let all = loom_tests::events::calls_of(&rig.ws.events, rig.method(shape)).len();
        found.check(all == n, || {
            format!("{all} calls of {} captured, not {n}", rig.method(shape))
        });
    }
    found.finish();
}

const INTEROP_CANCELS: [ClientCase; 2] = [
    ClientCase::CancelAfterBegin,
    ClientCase::CancelAfterFirstResponse,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_js_interop_cancels_against_grpcio_read_as_cancels() {
    client_cases(Kind::GrpcJs, Kind::Grpcio, &INTEROP_CANCELS, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_js_interop_cancels_against_grpc_go_read_as_cancels() {
    client_cases(Kind::GrpcJs, Kind::GrpcGo, &INTEROP_CANCELS, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_interop_cancels_against_grpc_js_read_as_cancels() {
    client_cases(Kind::Grpcio, Kind::GrpcJs, &INTEROP_CANCELS, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_js_client_every_case_against_grpc_go() {
    client_cases(Kind::GrpcJs, Kind::GrpcGo, &ClientCase::ALL, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_every_case_against_grpc_go() {
    client_cases(Kind::Grpcio, Kind::GrpcGo, &ClientCase::ALL, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_every_case_against_grpc_js() {
    client_cases(Kind::Grpcio, Kind::GrpcJs, &ClientCase::ALL, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_js_client_every_case_against_grpcio() {
    client_cases(Kind::GrpcJs, Kind::Grpcio, &ClientCase::ALL, 3).await;
}
