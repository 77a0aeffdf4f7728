//! `refusal=TEXT`: OpenAI's refusal message (`content: null`, `refusal`) and its stream (role
//! chunk `content:null,refusal:""`, then `refusal` deltas), checked against the recorded
//! openaipy_*_refusal fixtures; the OpenRouter flavour; rejection where the format has no refusal.

mod common;

use common::*;
use serde_json::{json, Value};

const REFUSAL: &str = "I'm very sorry, but I can't assist with that.";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../fixtures/providers/openai/{name}",
        // At run time (cargo sets it): a shared target dir must not read another clone's files.
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into())
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn model(text: &str) -> String {
    format!("gpt-4o;refusal={}", text.replace(' ', "%20"))
}

#[tokio::test]
async fn non_stream_message_is_the_recorded_refusal() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = Format::OpenAi
        .call(server.addr, &model(REFUSAL), false)
        .await;
    assert_eq!(r.status(), 200);
    // The exact bytes of the message, in the API's field order.
    let expected = format!(
        r#""message":{{"role":"assistant","content":null,"refusal":"{REFUSAL}","annotations":[]}}"#
    );
    assert!(r.text().contains(&expected), "{}", r.text());
    let v = r.json();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["completion_tokens"], 9, "the refusal's words");
    // The recorded message is the same, save `annotations` (newer than that recording).
    let recorded: Value =
        serde_json::from_str(&fixture("openaipy_nonstream_refusal.json")).unwrap();
    let mut message = v["choices"][0]["message"].clone();
    message.as_object_mut().unwrap().remove("annotations");
    assert_eq!(message, recorded["choices"][0]["message"]);
}

#[tokio::test]
async fn stream_is_shaped_like_the_recording() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let text = "I'm sorry, I can't assist with that request.";
    let r = Format::OpenAi.call(server.addr, &model(text), true).await;
    assert!(r.complete);
    let chunks = chunks_json(&r.events());
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter(|c| !c["choices"].as_array().unwrap().is_empty())
        .map(|c| &c["choices"][0]["delta"])
        .collect();
    let recorded = chunks_json(&sse_data(&fixture("openaipy_stream_refusal.sse")));
    let recorded_deltas: Vec<&Value> = recorded
        .iter()
        .filter(|c| !c["choices"].as_array().unwrap().is_empty())
        .map(|c| &c["choices"][0]["delta"])
        .collect();
    // The role chunk and the finish chunk are the recorded ones, byte for byte in JSON terms.
    assert_eq!(
        deltas[0],
        &json!({"role": "assistant", "content": null, "refusal": ""})
    );
    assert_eq!(deltas[0], recorded_deltas[0]);
    assert_eq!(deltas.last(), recorded_deltas.last());
    assert_eq!(
        chunks[deltas.len() - 1]["choices"][0]["finish_reason"],
        "stop"
    );
    // In between: only `refusal` pieces, split like text (a word with its leading space).
    let pieces: Vec<&str> = deltas[1..deltas.len() - 1]
        .iter()
        .map(|d| {
            assert_eq!(d.as_object().unwrap().len(), 1, "only `refusal`: {d}");
            d["refusal"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        pieces,
        [
            "I'm",
            " sorry,",
            " I",
            " can't",
            " assist",
            " with",
            " that",
            " request."
        ]
    );
    assert!(recorded_deltas[1..recorded_deltas.len() - 1]
        .iter()
        .all(|d| d.as_object().unwrap().keys().eq(["refusal"])));
    // Usage (asked for) and [DONE] follow as usual.
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 8);
    assert_eq!(r.events().last().map(String::as_str), Some("[DONE]"));

    // chunks= groups the pieces; the faults count them as content chunks.
    let r = Format::OpenAi
        .call(server.addr, &format!("{};chunks=2", model(text)), true)
        .await;
    let chunks = chunks_json(&r.events());
    assert_eq!(
        chunks[1]["choices"][0]["delta"],
        json!({"refusal": "I'm sorry, I can't"})
    );
    assert_eq!(
        chunks[2]["choices"][0]["delta"],
        json!({"refusal": " assist with that request."})
    );
    let r = Format::OpenAi
        .call(server.addr, &format!("{};cut_after=2", model(text)), true)
        .await;
    assert!(!r.complete);
    assert_eq!(chunks_json(&r.events()).len(), 3, "role + 2 refusal pieces");
}

#[tokio::test]
async fn openrouter_refuses_in_its_own_shape() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = Format::OpenRouter
        .call(server.addr, &model("No."), false)
        .await;
    let expected =
        r#""message":{"role":"assistant","content":null,"refusal":"No.","reasoning":null}"#;
    assert!(r.text().contains(expected), "{}", r.text());
    assert_eq!(r.json()["choices"][0]["finish_reason"], "stop");

    let r = Format::OpenRouter
        .call(server.addr, &model("Not that."), true)
        .await;
    let deltas: Vec<Value> = chunks_json(&r.events())
        .iter()
        .map(|c| c["choices"][0]["delta"].clone())
        .collect();
    assert_eq!(
        &deltas[..3],
        [
            json!({"role": "assistant", "content": null, "refusal": ""}),
            json!({"role": "assistant", "content": null, "refusal": "Not"}),
            json!({"role": "assistant", "content": null, "refusal": " that."}),
        ]
    );
    assert_eq!(
        chunks_json(&r.events())[3]["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn rejected_where_the_format_has_no_refusal_and_with_other_content() {
    let server = polyfuse_mock_server::start().await.unwrap();
    let r = Format::Mistral
        .call(server.addr, "m;refusal=no", false)
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json()["code"], "mock_bad_option");
    assert!(r.json()["message"].as_str().unwrap().contains("refusal"));
    let r = Format::Anthropic
        .call(server.addr, "m;refusal=no", true)
        .await;
    assert_eq!(r.status(), 400);
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("polyfuse-mock-server:") && message.contains("finish=refusal"));
    let r = Format::Gemini
        .call(server.addr, "m;refusal=no", false)
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json()["error"]["details"][0]["reason"], "mock_bad_option");
    for bad in [
        "refusal=",
        "refusal=no;text=yes",
        "refusal=no;words=3",
        "refusal=no;tool_call=f",
        "refusal=no;tools=1",
    ] {
        let r = Format::OpenAi
            .call(server.addr, &format!("m;{bad}"), false)
            .await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(r.json()["error"]["code"], "mock_bad_option", "{bad}");
    }
}
