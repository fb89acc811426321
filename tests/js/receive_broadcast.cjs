// Joins a private channel with @supabase/realtime-js as an app would, then prints one JSON line
// per subscription state and the first broadcast of event `changed`, and exits.
// Arguments: the Realtime URL, the apikey, the user's access token, the topic.
// Node 20 has no global WebSocket: the ws package is the transport.
const { RealtimeClient } = require('@supabase/realtime-js')
const WebSocket = require('ws')

const [url, apikey, accessToken, topic] = process.argv.slice(2)
const say = (line) => process.stdout.write(JSON.stringify(line) + '\n')

async function main() {
  const client = new RealtimeClient(url, { params: { apikey }, transport: WebSocket })
  await client.setAuth(accessToken)
  const channel = client.channel(topic, { config: { private: true } })
  channel.on('broadcast', { event: 'changed' }, (message) => {
    say({ broadcast: message })
    client.disconnect()
    process.exit(0)
  })
  channel.subscribe((status, error) => {
    say({ status, error: error ? String(error.message || error) : null })
    if (status !== 'SUBSCRIBED') process.exit(1)
  })
  setTimeout(() => { say({ timeout: true }); process.exit(2) }, 20000)
}

main()
