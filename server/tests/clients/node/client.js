// node-postgres (`pg`): no queries at connect, the simple protocol for a plain
// query, the extended protocol as soon as there are parameters or a statement name,
// and int8 returned as strings (pg's default, since JavaScript numbers are doubles).
//
// Usage: node client.js postgresql://USER@HOST:PORT/DBNAME
// Exits 1 with a message on the first difference from what PostgreSQL answers.

'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Client } = require('pg');

const CLIENT = 'node-postgres';

function schemaStatements() {
  const text = fs
    .readFileSync(path.join(__dirname, '..', 'schema.sql'), 'utf8')
    .split('\n')
    .filter((line) => !line.startsWith('--'))
    .join('\n');
  return text
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function expect(what, got, want) {
  try {
    assert.deepStrictEqual(got, want);
  } catch {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

async function run(url) {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of schemaStatements()) {
      await client.query(statement);
    }

    const plain = await client.query('SELECT g, n, total FROM mv ORDER BY g');
    expect('rows of mv (simple protocol)', plain.rows, [
      { g: 'a', n: '2', total: '15' },
      { g: 'b', n: '1', total: '7' },
    ]);
    expect(
      'fields of mv',
      plain.fields.map((f) => [f.name, f.dataTypeID]),
      [['g', 25], ['n', 20], ['total', 20]],
    );

    const bound = await client.query({
      text: 'SELECT g, n, total FROM mv WHERE n >= $1 ORDER BY g',
      values: [2],
      rowMode: 'array',
    });
    expect('rows of mv (extended protocol)', bound.rows, [['a', '2', '15']]);

    const named = await client.query({
      name: 'total-of-group',
      text: 'SELECT total FROM mv WHERE g = $1',
      values: ['b'],
    });
    expect('rows of mv (named prepared statement)', named.rows, [{ total: '7' }]);
  } finally {
    await client.end();
  }
}

async function main() {
  if (process.argv.length !== 3) {
    console.error('usage: node client.js postgresql://USER@HOST:PORT/DBNAME');
    process.exit(2);
  }
  try {
    await run(process.argv[2]);
  } catch (e) {
    const code = e.code ? ` (SQLSTATE ${e.code})` : '';
    console.error(`FAIL ${CLIENT}${code}: ${e.message}`);
    process.exit(1);
  }
  console.log(`ok ${CLIENT}`);
}

main();
