//! Speed of the model-free pieces on one core, as real-time factors
//! (processing seconds / audio seconds) over 60 s of synthetic audio.
//!
//!     cargo run --release -p voice --example dsp_bench

use std::time::Instant;

use voice::frame::frame_len;
use voice::g711::Law;
use voice::resample::StreamResampler;
use voice::testsignal::{mix_at_snr, speech_like, white_noise};
use voice::{Denoiser, EnergyVad, Rnnoise, Vad, audio};

fn clip(rate: u32) -> Vec<f32> {
    let mut s = Vec::new();
    while s.len() < rate as usize * 60 {
        s.extend(speech_like(rate, 10, 220, 80, 0.3));
    }
    s.truncate(rate as usize * 60);
    mix_at_snr(&s, &white_noise(rate, 60_000, 1.0, 3), 15.0)
}

fn report(name: &str, secs: f64) {
    println!("| {name} | {:.1e} |", secs / 60.0);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("| stage (60 s of audio, 20 ms frames) | RTF |");
    println!("|---|---|");
    let narrow = clip(8000);
    let pcm = audio::f32_to_i16(&narrow);
    let t = Instant::now();
    for f in pcm.chunks(160) {
        let bytes = Law::Alaw.encode(f);
        std::hint::black_box(Law::Alaw.decode(&bytes));
    }
    report(
        "G.711 A-law encode + decode, 8 kHz",
        t.elapsed().as_secs_f64(),
    );

    for (from, to) in [(8000, 16000), (24000, 8000), (8000, 48000)] {
        let input = clip(from);
        let mut r = StreamResampler::new(from, to)?;
        let t = Instant::now();
        for f in input.chunks(frame_len(from)) {
            std::hint::black_box(r.push(f)?);
        }
        report(
            &format!("resample {from} → {to} Hz"),
            t.elapsed().as_secs_f64(),
        );
    }

    for rate in [8000, 16000] {
        let input = clip(rate);
        let mut vad = EnergyVad::new(rate);
        let t = Instant::now();
        for f in input.chunks(frame_len(rate)) {
            std::hint::black_box(vad.speech_probability(f));
        }
        report(&format!("energy VAD, {rate} Hz"), t.elapsed().as_secs_f64());
    }

    let mut d = Rnnoise::new(8000)?;
    let t = Instant::now();
    for f in narrow.chunks(160) {
        std::hint::black_box(d.process(f));
    }
    report(
        "RNNoise at 8 kHz (incl. 8↔48 kHz resampling)",
        t.elapsed().as_secs_f64(),
    );
    Ok(())
}
