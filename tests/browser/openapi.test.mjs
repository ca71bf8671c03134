// The REST API's OpenAPI document, checked by an independent validator against the
// specification's own JSON Schema, and for what integrators rely on: every operation says how
// it fails. (Not a browser test; it lives with them for Node and its packages.)

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROSTER_BIN } from './support.mjs';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

async function document() {
  const { stdout } = await promisify(execFile)(ROSTER_BIN, ['openapi'], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout);
}

function operations(doc) {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ path, method, operation: item[method] })),
  );
}

describe('the OpenAPI document', () => {
  it('is valid OpenAPI, with every reference resolving', async () => {
    const doc = await document();
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.ok(result.valid, `the document does not match the OpenAPI ${validator.version} schema:\n${JSON.stringify(result.errors, null, 2)}`);
    assert.match(validator.version, /^3\.1/);
    // Every $ref must name something in the document.
    const resolved = validator.resolveRefs();
    assert.ok(resolved.paths['/api/v1/users'].post.requestBody.content['application/json'].schema.properties.email);
  });

  it('describes every failure an integrator can meet', async () => {
    const doc = await document();
    const all = operations(doc);
    assert.ok(all.length >= 20, `only ${all.length} operations documented`);
    for (const { path, method, operation } of all) {
      const codes = Object.keys(operation.responses);
      const name = `${method.toUpperCase()} ${path}`;
      for (const code of ['401', '403']) assert.ok(codes.includes(code), `${name} does not document ${code}`);
      if (path.includes('{id}')) assert.ok(codes.includes('404'), `${name} does not document 404`);
      if (method !== 'get') assert.ok(codes.includes('400'), `${name} does not document 400`);
      for (const code of codes.filter((c) => c >= '400')) {
        const schema = operation.responses[code].content?.['application/json']?.schema?.$ref;
        assert.equal(schema, '#/components/schemas/Problem', `${name} ${code} is not a problem document`);
      }
    }
    for (const [path, method] of [
      ['/api/v1/users', 'post'],
      ['/api/v1/users/{id}', 'patch'],
      ['/api/v1/users/{id}/erase', 'post'],
      ['/api/v1/teams/{id}/managers', 'put'],
      ['/api/v1/teams/{id}', 'delete'],
      ['/api/v1/webhooks', 'post'],
      ['/api/v1/events', 'get'],
    ]) {
      assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is not documented`);
    }
    const idempotent = doc.paths['/api/v1/users'].post.parameters.map((p) => p.name);
    assert.ok(idempotent.includes('Idempotency-Key'));
    const conditional = doc.paths['/api/v1/users/{id}'].patch.parameters.map((p) => p.name);
    assert.ok(conditional.includes('If-Match'));
  });

  it('describes what webhooks post', async () => {
    const doc = await document();
    const delivery = doc.webhooks?.event?.post;
    assert.ok(delivery, 'no webhooks section');
    assert.deepEqual(delivery.parameters.map((p) => p.name), ['webhook-id', 'webhook-timestamp', 'webhook-signature']);
    const message = doc.components.schemas.WebhookMessage;
    assert.deepEqual(Object.keys(message.properties).sort(), ['data', 'timestamp', 'type']);
  });
});
