// The baseline of the POST /runs row of `pnpm bench`: a bare Express 5 app (the same Express
// gyoza's API uses) that parses the same JSON body and answers 201 with a small run-shaped
// JSON. No store, no validation, no logging: what any Express service pays per request.
const { randomUUID } = require('node:crypto');
const path = require('node:path');

const express = require(require.resolve('express', { paths: [path.join(__dirname, '../packages/api')] }));

const app = express();
app.get('/health', (_req, res) => {
  res.json({ ok: true });
});
app.post('/runs', express.json({ limit: '1mb' }), (req, res) => {
  res
    .status(201)
    .json({ id: `run_${randomUUID()}`, state: 'PENDING', created_at: new Date().toISOString(), ...req.body });
});
app.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
