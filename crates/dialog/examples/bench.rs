//! Benchmarks of the conversation core (not timed tests). Run with:
//!
//! ```text
//! cargo run --release -p dialog --example bench
//! ```
//!
//! Prints: bot build time, the median and p95 of one full user turn (NLU +
//! FAQ retrieval + dispatch + rendering) on the example scripts and
//! knowledge bases, and the memory of an idle conversation state.

use std::path::Path;
use std::time::{Duration, Instant};

use dialog::{Bot, Event, EventKind, Start, State, WallTime};

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or_default()
}

fn start(bot: &Bot) -> State {
    let now = WallTime {
        year: 2026,
        month: 11,
        day: 24,
        hour: 10,
        minute: 0,
        weekday: 2,
    };
    let s = Start {
        contact: [
            ("name", "王先生"),
            ("community", "万科城"),
            ("phone", "13800138000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        now,
        humans_available: true,
        offline_message: None,
    };
    let mut st = bot.new_state();
    bot.handle(&mut st, &Event::new(0, EventKind::CallAnswered(s)));
    bot.handle(&mut st, &Event::new(20_000, EventKind::PlaybackFinished));
    st
}

/// Median and p95 of one turn: each sample restores `state` then handles `text`.
fn turns(bot: &Bot, state: &State, texts: &[&str], rounds: usize) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(rounds * texts.len());
    for r in 0..rounds {
        for t in texts {
            let mut st = state.clone();
            let ev = Event::said(30_000 + r as u64, t);
            let t0 = Instant::now();
            let a = bot.handle(&mut st, &ev);
            samples.push(t0.elapsed());
            std::hint::black_box(a);
        }
    }
    let p50 = percentile(&mut samples, 0.5);
    let p95 = percentile(&mut samples, 0.95);
    (p50, p95)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Warm the shared segmenter dictionary so build times are per bot.
    let _ = Bot::from_file(&root.join("examples/scripts/service.yaml"), None);

    let t0 = Instant::now();
    let reno =
        Bot::from_file(&root.join("examples/scripts/renovation.yaml"), None).expect("renovation");
    let reno_build = t0.elapsed();
    let t0 = Instant::now();
    let service =
        Bot::from_file(&root.join("examples/scripts/service.yaml"), None).expect("service");
    let service_build = t0.elapsed();
    println!(
        "bot build: renovation {:.1} ms, service (68-entry KB) {:.1} ms",
        reno_build.as_secs_f64() * 1e3,
        service_build.as_secs_f64() * 1e3
    );

    // Renovation: the caller is at the identity question.
    let st = start(&reno);
    let reno_texts = [
        "是的，我是",
        "你是机器人吗",
        "你们设计费怎么收",
        "今天天气怎么样",
        "我在开会，明天下午三点再打吧",
        "不需要",
    ];
    let (p50, p95) = turns(&reno, &st, &reno_texts, 300);
    println!(
        "turn (renovation, mixed answers/FAQ/handlers): median {:.1} µs, p95 {:.1} µs",
        p50.as_secs_f64() * 1e6,
        p95.as_secs_f64() * 1e6
    );

    // Service: every turn goes through FAQ retrieval over 68 entries.
    let st = start(&service);
    let svc_texts = [
        "下单后多久发货啊",
        "怎么开发票",
        "运费谁承担",
        "你们老板叫什么名字",
        "帮我查一下订单",
        "满多少包邮",
    ];
    let (p50, p95) = turns(&service, &st, &svc_texts, 300);
    println!(
        "turn (service, FAQ + clarification + no-match): median {:.1} µs, p95 {:.1} µs",
        p50.as_secs_f64() * 1e6,
        p95.as_secs_f64() * 1e6
    );

    // Memory of an idle conversation (waiting at the first question).
    let st = start(&reno);
    let json = serde_json::to_vec(&st).map(|v| v.len()).unwrap_or(0);
    println!(
        "idle state: {} bytes in memory (struct {} + heap), {} bytes as JSON",
        st.approx_bytes(),
        std::mem::size_of::<State>(),
        json
    );
    let mut mid = st.clone();
    for (i, t) in ["是的", "下个月", "一百二十平"].iter().enumerate() {
        reno.handle(&mut mid, &Event::said(40_000 + i as u64 * 5000, t));
    }
    println!(
        "mid-conversation state (3 answers, 2 slots, 2 tags): {} bytes",
        mid.approx_bytes()
    );
}
