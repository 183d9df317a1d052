//! Push crypto and XML costs: open a component_verify_ticket push (envelope parse →
//! msg_signature verify → decrypt → parse_component_push) and seal a passive text reply.
//! Both documents of the push are in the shape WeChat sends, so they take the
//! canonical-shape scanner; one line shows the quick-xml path for comparison.
//!
//! Run: `cargo run --release -p wxopen-bench --bin crypto`

use std::hint::black_box;
use std::time::{Duration, Instant};

use wxopen::crypto::MsgCrypt;
use wxopen::xml::{self, ComponentPush, Envelope};

const TOKEN: &str = "benchtoken";
const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const COMPONENT_APPID: &str = "wx134c8103faa5a59e";
const TIMESTAMP: &str = "1713424427";
const NONCE: &str = "415670741";
const TARGET: Duration = Duration::from_micros(5);
const SAMPLES: usize = 201;
const ITERATIONS_PER_SAMPLE: u32 = 500;

/// A ticket push the size WeChat sends (the ticket is ~100 characters).
const TICKET_PUSH: &str = "<xml><AppId><![CDATA[wx134c8103faa5a59e]]></AppId>\n<CreateTime>1713424427</CreateTime>\n<InfoType><![CDATA[component_verify_ticket]]></InfoType>\n<ComponentVerifyTicket><![CDATA[ticket@@@lEHjsBEi_TPDey0IZxw4Zbb7JRYLOtEf9ksvDpSwzkwog3R6xEpdaK0yIee7JOyOXM0V7cp0dpM58GKmb8FSKA]]></ComponentVerifyTicket>\n</xml>";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let crypt = MsgCrypt::new(TOKEN, ENCODING_AES_KEY, None, COMPONENT_APPID)?;
    let envelope = Envelope {
        app_id: Some(COMPONENT_APPID.to_owned()),
        to_user_name: None,
        encrypt: crypt.encrypt(TICKET_PUSH),
    };
    let body = envelope.to_xml();
    let msg_signature = crypt.msg_signature(TIMESTAMP, NONCE, &envelope.encrypt);

    let open_push = || -> Result<ComponentPush, Box<dyn std::error::Error>> {
        let opened =
            crypt.open_envelope(black_box(body.as_bytes()), &msg_signature, TIMESTAMP, NONCE)?;
        Ok(xml::parse_component_push(&opened.opened.message)?)
    };
    // Fail loudly rather than time an error path.
    match open_push()? {
        ComponentPush::ComponentVerifyTicket { .. } => {}
        other => return Err(format!("unexpected push {other:?}").into()),
    }

    let [open, seal] = median_per_op_interleaved([
        &mut || {
            let _ = black_box(open_push());
        },
        &mut || {
            let reply = xml::text_reply(
                "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
                "gh_97417a04a28d",
                1_713_424_427,
                black_box("TESTCOMPONENT_MSG_TYPE_TEXT_callback"),
            );
            black_box(crypt.seal_reply(&reply, TIMESTAMP, NONCE));
        },
    ]);

    println!("push body: {} bytes; target {:?} each", body.len(), TARGET);
    report("open ticket push (parse+verify+decrypt+parse)", open);
    report("seal encrypted text reply (build+encrypt+sign)", seal);

    // Where the time of an open goes, step by step.
    let plaintext = crypt.decrypt(&envelope.encrypt)?.message;
    println!("  parts of an open:");
    report(
        "  envelope XML parse",
        median_per_op(|| {
            let _ = black_box(xml::parse_envelope(black_box(body.as_bytes())));
        }),
    );
    report(
        "  msg_signature verify",
        median_per_op(|| {
            let _ = black_box(crypt.verify_msg_signature(
                &msg_signature,
                TIMESTAMP,
                NONCE,
                black_box(&envelope.encrypt),
            ));
        }),
    );
    report(
        "  base64 + AES-CBC decrypt + layout checks",
        median_per_op(|| {
            let _ = black_box(crypt.decrypt(black_box(&envelope.encrypt)));
        }),
    );
    report(
        "  ticket XML parse",
        median_per_op(|| {
            let _ = black_box(xml::parse_component_push(black_box(&plaintext)));
        }),
    );
    // A document outside the canonical shape (here: with a declaration) goes to
    // quick-xml; this is what any such push costs to parse.
    let declared = format!("<?xml version=\"1.0\"?>{plaintext}");
    report(
        "  same ticket via quick-xml (declaration first)",
        median_per_op(|| {
            let _ = black_box(xml::parse_component_push(black_box(&declared)));
        }),
    );
    let reply = xml::text_reply(
        "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
        "gh_97417a04a28d",
        1_713_424_427,
        "TESTCOMPONENT_MSG_TYPE_TEXT_callback",
    );
    let sealed_encrypt = crypt.encrypt(&reply);
    println!("  parts of a seal:");
    report(
        "  text reply XML build",
        median_per_op(|| {
            black_box(xml::text_reply(
                "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
                "gh_97417a04a28d",
                1_713_424_427,
                black_box("TESTCOMPONENT_MSG_TYPE_TEXT_callback"),
            ));
        }),
    );
    report(
        "  AES-CBC encrypt + base64",
        median_per_op(|| {
            black_box(crypt.encrypt(black_box(&reply)));
        }),
    );
    report(
        "  msg_signature",
        median_per_op(|| {
            black_box(crypt.msg_signature(TIMESTAMP, NONCE, black_box(&sealed_encrypt)));
        }),
    );
    Ok(())
}

/// Median and fastest of `SAMPLES` batches, as time per call. On a shared, busy
/// machine the fastest batch is the closest to the uncontended cost.
fn median_per_op(mut op: impl FnMut()) -> (Duration, Duration) {
    let [timing] = median_per_op_interleaved([&mut op]);
    timing
}

/// [`median_per_op`] for several operations, their batches taken in turn so that
/// a neighbour's load on this VM slows each of them alike.
fn median_per_op_interleaved<const N: usize>(
    mut ops: [&mut dyn FnMut(); N],
) -> [(Duration, Duration); N] {
    let batch = |op: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..ITERATIONS_PER_SAMPLE {
            op();
        }
        start.elapsed() / ITERATIONS_PER_SAMPLE
    };
    let mut samples: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(SAMPLES));
    for op in ops.iter_mut() {
        batch(&mut **op);
    }
    for _ in 0..SAMPLES {
        for (op, taken) in ops.iter_mut().zip(samples.iter_mut()) {
            taken.push(batch(&mut **op));
        }
    }
    samples.map(|mut taken| {
        taken.sort_unstable();
        let median = taken.get(SAMPLES / 2).copied().unwrap_or_default();
        let fastest = taken.first().copied().unwrap_or_default();
        (median, fastest)
    })
}

fn report(name: &str, (median, fastest): (Duration, Duration)) {
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let ratio = median.as_secs_f64() / TARGET.as_secs_f64();
    println!(
        "{name:<48} median {:>7.3} µs ({ratio:.2}× target)   fastest batch {:>7.3} µs",
        micros(median),
        micros(fastest)
    );
}
