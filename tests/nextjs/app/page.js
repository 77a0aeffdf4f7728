export default function Page() {
  return <p>polyfuse on Next.js: POST /api/complete, POST /api/stream</p>
}
