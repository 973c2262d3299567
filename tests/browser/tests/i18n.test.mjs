// The string tables under widget/i18n: one per supported language, each with every key of
// en.json, no empty value, and the same {placeholders}. Needs no browser and no server.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const I18N_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'widget', 'i18n');
const LANGUAGES = ['en', 'es', 'pt', 'fr', 'de', 'it', 'nl', 'ru', 'pl', 'tr', 'ar', 'he', 'fa', 'hi', 'vi', 'th', 'id', 'ja', 'ko', 'zh'];

function readTable(code) {
  return JSON.parse(readFileSync(join(I18N_DIR, code + '.json'), 'utf8'));
}

function placeholders(text) {
  return [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort();
}

describe('widget string tables', () => {
  const english = readTable('en');

  it('exist for exactly the supported languages', () => {
    const files = readdirSync(I18N_DIR).filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -5));
    assert.deepEqual(files.sort(), [...LANGUAGES].sort());
  });

  it('list the languages the widget script knows', () => {
    const script = readFileSync(join(I18N_DIR, '..', 'widget.js'), 'utf8');
    for (const code of LANGUAGES) assert.match(script, new RegExp(`'${code}'`), code);
  });

  for (const code of LANGUAGES) {
    it(`${code}.json has every key with the same placeholders`, () => {
      const table = readTable(code);
      assert.deepEqual(Object.keys(table).sort(), Object.keys(english).sort());
      for (const [key, text] of Object.entries(table)) {
        assert.equal(typeof text, 'string', `${code}.${key}`);
        assert.ok(text.trim().length > 0, `${code}.${key} is empty`);
        assert.deepEqual(placeholders(text), placeholders(english[key]), `${code}.${key} placeholders`);
        assert.doesNotMatch(text, /[<>]/, `${code}.${key} contains markup`);
      }
    });
  }

  it('translate the visible strings rather than copying English', () => {
    for (const code of LANGUAGES.filter((language) => language !== 'en')) {
      const table = readTable(code);
      assert.notEqual(table.send, english.send, `${code}.send`);
      assert.notEqual(table.placeholder, english.placeholder, `${code}.placeholder`);
      assert.notEqual(table.machine_translated, english.machine_translated, `${code}.machine_translated`);
    }
  });
});
