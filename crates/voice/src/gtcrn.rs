//! Noise suppression with GTCRN (`gtcrn_simple.onnx`, MIT, 535 KB) on ONNX
//! Runtime (feature `gtcrn`), installed by
//! `scripts/install-voice-models.sh gtcrn`.
//!
//! GTCRN works on a 16 kHz STFT (512-point FFT, hop 256, square-root Hann
//! window) one frame at a time, carrying its recurrent state in three cache
//! tensors that go in and come out of every run. [`Gtcrn`] accepts any rate:
//! it resamples to 16 kHz and back, and buffers so callers may push pieces of
//! any size. Latency: one window (32 ms) plus the resamplers.
//!
//! The session is stateless (the caches are inputs), so one loaded model is
//! shared by every call; each [`Gtcrn`] has its own caches and buffers.

use std::path::Path;
use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::value::Tensor;
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::engine::{Denoiser, EngineError};
use crate::models::{GTCRN, check_model};
use crate::resample::StreamResampler;

const RATE: u32 = 16_000;
const N_FFT: usize = 512;
const HOP: usize = 256;
const BINS: usize = N_FFT / 2 + 1;
const CONV_CACHE: [usize; 5] = [2, 1, 16, 16, 33];
const TRA_CACHE: [usize; 5] = [2, 3, 1, 1, 16];
const INTER_CACHE: [usize; 4] = [2, 1, 33, 16];
const ID: &str = "gtcrn-simple";

fn failed(message: impl std::fmt::Display) -> EngineError {
    EngineError::Failed {
        engine: ID.into(),
        message: message.to_string(),
    }
}

/// The loaded GTCRN model; load once, then [`GtcrnModel::denoiser`] per call.
#[derive(Clone)]
pub struct GtcrnModel {
    session: Arc<Mutex<Session>>,
}

impl std::fmt::Debug for GtcrnModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GtcrnModel")
    }
}

impl GtcrnModel {
    /// Loads and verifies the model (and ONNX Runtime) under `models`.
    pub fn load(models: &Path) -> Result<Self, EngineError> {
        let dir = check_model(models, GTCRN, &["gtcrn_simple.onnx"])?;
        crate::onnx::init(models)?;
        let session = Session::builder()
            .map_err(failed)?
            .with_intra_threads(1)
            .map_err(failed)?
            .commit_from_file(dir.join("gtcrn_simple.onnx"))
            .map_err(failed)?;
        Ok(Self {
            session: Arc::new(Mutex::new(session)),
        })
    }

    /// A denoiser for one stream at `sample_rate`.
    pub fn denoiser(&self, sample_rate: u32) -> Result<Gtcrn, EngineError> {
        Gtcrn::new(self.clone(), sample_rate)
    }
}

/// One stream's GTCRN state behind the [`Denoiser`] trait.
pub struct Gtcrn {
    model: GtcrnModel,
    sample_rate: u32,
    up: Option<StreamResampler>,
    down: Option<StreamResampler>,
    window: Vec<f32>,
    /// 1 / (sum of squared windows over the overlap), per position in a hop.
    norm: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    ifft: Arc<dyn ComplexToReal<f32>>,
    /// 16 kHz input not yet analysed; starts with half a window of zeros.
    input: Vec<f32>,
    /// Overlap-add accumulator: the next `N_FFT` output samples.
    overlap: Vec<f32>,
    conv: Vec<f32>,
    tra: Vec<f32>,
    inter: Vec<f32>,
    /// Output samples still to drop (the leading half window of padding).
    skip: usize,
    failed: bool,
}

impl std::fmt::Debug for Gtcrn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gtcrn")
            .field("sample_rate", &self.sample_rate)
            .finish()
    }
}

impl Gtcrn {
    fn new(model: GtcrnModel, sample_rate: u32) -> Result<Self, EngineError> {
        let resampler = |from, to| {
            if from == to {
                Ok(None)
            } else {
                StreamResampler::new(from, to)
                    .map(Some)
                    .map_err(|e| EngineError::InvalidInput(e.to_string()))
            }
        };
        // numpy's symmetric Hann, square-rooted (what GTCRN was trained with).
        let window: Vec<f32> = (0..N_FFT)
            .map(|n| {
                let h =
                    0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / (N_FFT - 1) as f64).cos();
                h.sqrt() as f32
            })
            .collect();
        let norm = (0..HOP)
            .map(|n| {
                let s = window[n] * window[n] + window[n + HOP] * window[n + HOP];
                if s > 1e-6 { 1.0 / s } else { 1.0 }
            })
            .collect();
        let mut planner = RealFftPlanner::<f32>::new();
        let mut g = Self {
            model,
            sample_rate,
            up: resampler(sample_rate, RATE)?,
            down: resampler(RATE, sample_rate)?,
            window,
            norm,
            fft: planner.plan_fft_forward(N_FFT),
            ifft: planner.plan_fft_inverse(N_FFT),
            input: Vec::new(),
            overlap: Vec::new(),
            conv: Vec::new(),
            tra: Vec::new(),
            inter: Vec::new(),
            skip: 0,
            failed: false,
        };
        g.reset();
        Ok(g)
    }

    /// Runs the network on one spectrum frame, updating the caches.
    fn run(&mut self, spectrum: &[Complex32]) -> Result<Vec<Complex32>, EngineError> {
        let mix: Vec<f32> = spectrum.iter().flat_map(|c| [c.re, c.im]).collect();
        let mix = Tensor::from_array(([1usize, BINS, 1, 2], mix)).map_err(failed)?;
        let conv =
            Tensor::from_array((CONV_CACHE, std::mem::take(&mut self.conv))).map_err(failed)?;
        let tra = Tensor::from_array((TRA_CACHE, std::mem::take(&mut self.tra))).map_err(failed)?;
        let inter =
            Tensor::from_array((INTER_CACHE, std::mem::take(&mut self.inter))).map_err(failed)?;
        let mut session = self
            .model
            .session
            .lock()
            .map_err(|_| failed("a previous run panicked"))?;
        let outputs = session
            .run(ort::inputs![
                "mix" => mix,
                "conv_cache" => conv,
                "tra_cache" => tra,
                "inter_cache" => inter,
            ])
            .map_err(failed)?;
        let mut values = outputs.values();
        let mut next = |what: &str| -> Result<Vec<f32>, EngineError> {
            let v = values
                .next()
                .ok_or_else(|| failed(format!("model output {what} is missing")))?;
            let (_, data) = v.try_extract_tensor::<f32>().map_err(failed)?;
            Ok(data.to_vec())
        };
        let enhanced = next("enh")?;
        self.conv = next("conv_cache")?;
        self.tra = next("tra_cache")?;
        self.inter = next("inter_cache")?;
        if enhanced.len() != BINS * 2 {
            return Err(failed("unexpected output shape"));
        }
        Ok(enhanced
            .chunks_exact(2)
            .map(|p| Complex32::new(p[0], p[1]))
            .collect())
    }

    /// Denoises 16 kHz audio, returning what is complete.
    fn process_16k(&mut self, samples: &[f32]) -> Vec<f32> {
        self.input.extend_from_slice(samples);
        let mut out = Vec::new();
        let mut frame = vec![0.0f32; N_FFT];
        let mut spectrum = self.fft.make_output_vec();
        let mut time = vec![0.0f32; N_FFT];
        while self.input.len() >= N_FFT {
            for (f, (x, w)) in frame.iter_mut().zip(self.input.iter().zip(&self.window)) {
                *f = x * w;
            }
            let ok = !self.failed
                && self.fft.process(&mut frame, &mut spectrum).is_ok()
                && match self.run(&spectrum) {
                    Ok(mut enhanced) => {
                        // DC and Nyquist bins must be real for the inverse FFT.
                        enhanced[0].im = 0.0;
                        enhanced[BINS - 1].im = 0.0;
                        self.ifft.process(&mut enhanced, &mut time).is_ok()
                    }
                    Err(_) => false,
                };
            if !ok {
                // Never lose audio: pass the input through from here on.
                self.failed = true;
                for (t, x) in time.iter_mut().zip(&self.input) {
                    *t = x * N_FFT as f32;
                }
                for (t, w) in time.iter_mut().zip(&self.window) {
                    *t *= w;
                }
            }
            for (o, (t, w)) in self.overlap.iter_mut().zip(time.iter().zip(&self.window)) {
                *o += t * w / N_FFT as f32;
            }
            let done: Vec<f32> = self
                .overlap
                .drain(..HOP)
                .zip(&self.norm)
                .map(|(s, n)| s * n)
                .collect();
            self.overlap.extend(std::iter::repeat_n(0.0, HOP));
            self.input.drain(..HOP);
            let drop = self.skip.min(done.len());
            self.skip -= drop;
            out.extend_from_slice(&done[drop..]);
        }
        out
    }
}

impl Denoiser for Gtcrn {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn process(&mut self, samples: &[f32]) -> Vec<f32> {
        let wide = match self.up.as_mut() {
            Some(r) => r.push(samples).unwrap_or_else(|_| samples.to_vec()),
            None => samples.to_vec(),
        };
        let clean = self.process_16k(&wide);
        match self.down.as_mut() {
            Some(r) => r.push(&clean).unwrap_or(clean),
            None => clean,
        }
    }

    fn reset(&mut self) {
        self.input = vec![0.0; HOP];
        self.overlap = vec![0.0; N_FFT];
        self.conv = vec![0.0; CONV_CACHE.iter().product()];
        self.tra = vec![0.0; TRA_CACHE.iter().product()];
        self.inter = vec![0.0; INTER_CACHE.iter().product()];
        self.skip = HOP;
        self.failed = false;
    }
}
