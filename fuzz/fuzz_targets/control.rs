//! The back-channel on arbitrary bytes, both ends: the sender reads them as
//! control messages (with its transport's limit) and acts on each with its
//! real handler (its adaptation, its audience, the probes it answers),
//! while its capture thread's frame gate admits pictures at the limits that
//! result; and the receiver reads
//! them as frames whose clock replies go into its clock estimate with any
//! times a peer may claim. Nothing panics or overflows, and an estimate's
//! error bound is never below zero round trip.
#![no_main]

use framewire_proto::Control;
use framewire_proto::codec::FrameReader;
use framewire_receiver::stream::clock::ClockSync;
use framewire_sender::adapt::{Adaptation, Bounds, FrameGate};
use framewire_sender::audience::Audience;
use framewire_sender::transport::control::{ControlHandler, MAX_CONTROL_BYTES};
use std::time::{Duration, Instant};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smol::block_on(async {
        let mut controls = FrameReader::new(data, MAX_CONTROL_BYTES);
        let adaptation = Adaptation::new(Bounds {
            ceiling: 90,
            floor: 30,
            follow_link: true,
        });
        let audience = Audience::new();
        let (probes, answered) = async_channel::bounded(4);
        let mut handler = ControlHandler::new(&probes, &adaptation, &audience);
        let mut gate = FrameGate::default();
        let start = Instant::now();
        let mut at = start;
        while let Ok(Some(control)) = controls.read_message::<Control>().await {
            handler.handle(&control, at);
            while answered.try_recv().is_ok() {}
            let _ = adaptation.admit(&mut gate, at);
            if let Some(due) = gate.due(adaptation.status().max_fps) {
                // No wait for a picture is ever longer than a minute.
                assert!(due.saturating_duration_since(at) <= Duration::from_secs(61));
            }
            let _ = adaptation.for_next_picture();
            at += Duration::from_millis(7);
        }
        let mut frames = FrameReader::new(data, 64 * 1024);
        let mut clock = ClockSync::default();
        while let Ok(Some(frame)) = frames.read_frame().await {
            let Some(reply) = frame.clock_reply else {
                continue;
            };
            // The probe it answers was sent; its arrival is the frame's capture time.
            clock.probe_sent(reply.receiver_send_time_us);
            let arrived = frame.capture_time_us;
            clock.reply(&reply, arrived);
            let _ = clock.estimate(arrived.saturating_add(frame.sequence));
        }
    });
});
