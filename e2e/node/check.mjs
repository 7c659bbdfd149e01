// Runs npm's official openai client, and the Vercel AI SDK's default
// OpenAI provider (Responses API), against a live Tollgate server.
// TOLLGATE_URL: the open (or authenticated) server; TOLLGATE_API_KEY: the
// credential for it (any string in open mode); TOLLGATE_REQUIRED_URL: a
// server in auth.mode = required, for the 401 check.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { generateText, streamText } from "ai";
import { createOpenAI } from "@ai-sdk/openai";

const base = process.env.TOLLGATE_URL;
const apiKey = process.env.TOLLGATE_API_KEY || "unused-in-open-mode";
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0 });
let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (err) {
    failed++;
    console.log(`not ok - ${name}: ${err && err.stack ? err.stack : err}`);
  }
}

await check("models list", async () => {
  const page = await client.models.list();
  const ids = page.data.map((m) => m.id);
  assert.deepEqual(ids, ["echo"]);
  assert.equal(page.data[0].object, "model");
});

await check("plain completion", async () => {
  const res = await client.chat.completions.create({
    model: "echo",
    messages: [{ role: "user", content: "hello from node" }],
  });
  assert.equal(res.object, "chat.completion");
  assert.equal(res.choices[0].message.content, "hello from node");
  assert.equal(res.usage.completion_tokens, 3);
  assert.equal(res.usage.total_tokens, res.usage.prompt_tokens + 3);
});

await check("streaming completion reassembles exactly", async () => {
  const stream = await client.chat.completions.create({
    model: "echo",
    stream: true,
    messages: [{ role: "user", content: "one two three four" }],
  });
  let text = "";
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.usage ?? null, null, "usage chunk must not reach a client that did not ask for it");
    text += chunk.choices[0]?.delta?.content ?? "";
  }
  assert.equal(text, "one two three four");
  assert.ok(chunks >= 4, `got ${chunks} chunks`);
});

await check("unknown model is a 404 APIError with our code", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }),
    (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${err && err.constructor && err.constructor.name}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, "model_not_found");
      assert.equal(err.type, "not_found_error");
      return true;
    },
  );
});

// The Vercel AI SDK's default OpenAI model (openai('echo')) calls the
// Responses API, POST /v1/responses.
const ai = createOpenAI({ baseURL: `${base}/v1`, apiKey });

await check("ai SDK default openai('echo') model: generateText over /v1/responses", async () => {
  const { text, usage, finishReason } = await generateText({ model: ai("echo"), prompt: "hello from the ai sdk", maxRetries: 0 });
  assert.equal(text, "hello from the ai sdk");
  assert.equal(finishReason, "stop");
  assert.equal(usage.outputTokens, 5);
  assert.equal(usage.inputTokens, 5);
});

await check("ai SDK default openai('echo') model: streamText over /v1/responses", async () => {
  const result = streamText({ model: ai("echo"), prompt: "one two three four", maxRetries: 0 });
  let text = "";
  for await (const delta of result.textStream) text += delta;
  assert.equal(text, "one two three four");
  assert.equal((await result.usage).outputTokens, 4);
});

await check("ai SDK: an unknown model is the gateway's 404", async () => {
  await assert.rejects(generateText({ model: ai("no-such-model"), prompt: "x", maxRetries: 0 }), (err) => {
    assert.equal(err.statusCode, 404);
    assert.match(err.responseBody, /"code":"model_not_found"/);
    return true;
  });
});

if (process.env.TOLLGATE_REQUIRED_URL) {
  await check("missing credential is a 401 AuthenticationError with our code", async () => {
    const anon = new OpenAI({ baseURL: `${process.env.TOLLGATE_REQUIRED_URL}/v1`, apiKey: "tg_not_a_real_key", maxRetries: 0 });
    await assert.rejects(anon.models.list(), (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err && err.constructor && err.constructor.name}`);
      assert.equal(err.status, 401);
      assert.equal(err.code, "invalid_authorization");
      assert.equal(err.type, "authentication_error");
      return true;
    });
  });
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
