// Code written against openai-node's `chat.completions.create` surface, type-checked against
// polyfuse's typings (tsc --strict in tests/node/esm.test.mjs; never run).
import { Client, type ChatCompletion, type ChatCompletionChunk, type ChatCompletionMessageParam } from 'polyfuse'

const client = new Client()
export async function main(signal: AbortSignal): Promise<string> {
  const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'hi' }]
  const completion: ChatCompletion = await client.chat.completions.create({ model: 'mock/echo', messages, temperature: 0.2 })
  const message = completion.choices[0].message
  messages.push(message)
  for (const call of message.tool_calls ?? []) {
    messages.push({ role: 'tool', tool_call_id: call.id, content: call.function.arguments })
  }
  const stream = await client.chat.completions.create(
    { model: 'mock/echo', messages, stream: true, stream_options: { include_usage: true } },
    { signal, timeout: 10_000 },
  )
  let text = ''
  for await (const chunk of stream) {
    const c: ChatCompletionChunk = chunk
    text += c.choices[0]?.delta?.content ?? ''
    void c.usage?.prompt_tokens
  }
  // @ts-expect-error a non-streaming call resolves to a completion, not a stream
  for await (const chunk of await client.chat.completions.create({ model: 'mock/echo', messages })) void chunk
  // @ts-expect-error messages are required
  await client.chat.completions.create({ model: 'mock/echo' })
  return (completion.choices[0].message.content ?? '') + text
}
