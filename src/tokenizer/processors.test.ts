import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { isHangarError } from '../errors.ts'
import { Draft } from './draft.ts'
import { buildProcessor, type Params } from './processors.ts'
import { parseSecret } from './secret.ts'

/** Runs a secret's processor on a request and returns the draft. */
function run(secretJson: string, params: Params = {}, body?: string, headers: string[] = []): Draft {
  const step = buildProcessor(parseSecret(secretJson).processor, params)
  const d = new Draft('POST', 'api.example.com', '/foo', headers)
  if (step.needsBody) d.body = Buffer.from(body ?? '')
  step.apply(d)
  return d
}
const refused = (code: string) => (e: unknown): boolean => isHangarError(e) && e.code === code && e.status === 400

test('inject: Bearer in Authorization by default; dst and fmt from the params (superfly\'s tokenizer_test cases)', () => {
  const s = '{"inject_processor":{"token":"supersecret"},"no_auth":{}}'
  assert.equal(run(s).get('authorization'), 'Bearer supersecret')
  assert.equal(run(s, { dst: 'Foo' }).get('foo'), 'Bearer supersecret')
  assert.equal(run(s, { dst: 'foo' }).names().at(-1), 'Foo')
  assert.equal(run(s, { fmt: 'Other %s' }).get('authorization'), 'Other supersecret')
  // The client's own Authorization is replaced, never kept beside the injected one.
  assert.deepEqual(run(s, {}, undefined, ['authorization', 'Bearer placeholder']).raw(), ['Authorization', 'Bearer supersecret'])
})

test('inject: allowed_dst gives the default and the choices; a fixed fmt or dst cannot be changed by params', () => {
  const s = '{"inject_processor":{"token":"t","allowed_dst":["asdf","qwer"]},"no_auth":{}}'
  assert.equal(run(s).get('asdf'), 'Bearer t')
  assert.equal(run(s, { dst: 'qWeR' }).get('qwer'), 'Bearer t')
  assert.throws(() => run(s, { dst: 'zxcv' }), refused('tokenizer_bad_request'))
  const fixed = '{"inject_processor":{"token":"t","fmt":"token=%s","dst":"X-Key"},"no_auth":{}}'
  assert.equal(run(fixed).get('x-key'), 'token=t')
  assert.throws(() => run(fixed, { fmt: '%s' }), refused('tokenizer_bad_request'))
  assert.throws(() => run(fixed, { dst: 'Authorization' }), refused('tokenizer_bad_request'))
})

test('inject: a format needs exactly one %s; framing and proxy headers cannot be a dst', () => {
  const s = '{"inject_processor":{"token":"t"},"no_auth":{}}'
  for (const fmt of ['no directive', 'trailing %', '%s and %s', '%x', '%d', '%%s']) assert.throws(() => run(s, { fmt }), refused('tokenizer_bad_request'), fmt)
  for (const dst of ['Host', 'Content-Length', 'Transfer-Encoding', 'Proxy-Authorization', 'Connection', 'bad header']) assert.throws(() => run(s, { dst }), refused('tokenizer_bad_request'), dst)
  assert.throws(() => run('{"inject_processor":{"token":""},"no_auth":{}}'), refused('tokenizer_bad_secret'))
  // A token that would split the header is refused without being echoed.
  assert.throws(() => run('{"inject_processor":{"token":"a\\r\\nX-Evil: 1"},"no_auth":{}}'), (e: unknown) => refused('tokenizer_bad_secret')(e) && !(e as Error).message.includes('Evil'))
})

test('inject_hmac: HMAC-SHA256 of the body, or of the msg param, hex by default, %X on request', () => {
  const key = Buffer.from('trustno2')
  const s = `{"inject_hmac_processor":{"key":"${key.toString('base64')}","hash":"sha256"},"no_auth":{}}`
  const mac = (m: string): Buffer => createHmac('sha256', key).update(m).digest()
  const d = run(s, {}, 'foo')
  assert.equal(d.get('authorization'), `Bearer ${mac('foo').toString('hex')}`)
  assert.equal(d.body?.toString(), 'foo')
  assert.equal(run(s, { msg: 'my payload' }).get('authorization'), `Bearer ${mac('my payload').toString('hex')}`)
  assert.equal(run(s, { fmt: '%X' }, 'foo').get('authorization'), mac('foo').toString('hex').toUpperCase())
  assert.equal(run(s, { dst: 'Foo' }, 'foo').get('foo'), `Bearer ${mac('foo').toString('hex')}`)
  assert.throws(() => run(s, { fmt: '%s' }, 'foo'), refused('tokenizer_bad_request'))
  assert.throws(() => run(`{"inject_hmac_processor":{"key":"${key.toString('base64')}","hash":"md5"},"no_auth":{}}`), refused('tokenizer_bad_secret'))
})

test('oauth2: the access token by default, the refresh token with st=refresh, into a body placeholder when asked', () => {
  const s = '{"oauth2_processor":{"token":{"access_token":"access-token","refresh_token":"refresh-token"}},"no_auth":{}}'
  assert.equal(run(s).get('authorization'), 'Bearer access-token')
  assert.equal(run(s, { st: 'access' }).get('authorization'), 'Bearer access-token')
  assert.equal(run(s, { st: 'refresh' }).get('authorization'), 'Bearer refresh-token')
  const d = run(s, { st: 'refresh', placeholder: '<RT>' }, 'grant_type=refresh_token&refresh_token=<RT>')
  assert.equal(d.body?.toString(), 'grant_type=refresh_token&refresh_token=refresh-token')
  assert.equal(d.get('authorization'), undefined)
  assert.throws(() => run('{"oauth2_processor":{"token":{"access_token":"a"}},"no_auth":{}}', { st: 'refresh' }), refused('tokenizer_bad_secret'))
  const body = run('{"oauth2_body_processor":{"token":{"access_token":"AT"}},"no_auth":{}}', {}, '{"t":"{{ACCESS_TOKEN}}"}')
  assert.equal(body.body?.toString(), '{"t":"AT"}')
})

test('inject_body replaces every placeholder (default {{ACCESS_TOKEN}}, or the secret\'s, or the param\'s)', () => {
  assert.equal(run('{"inject_body_processor":{"token":"T"},"no_auth":{}}', {}, 'a={{ACCESS_TOKEN}}&b={{ACCESS_TOKEN}}').body?.toString(), 'a=T&b=T')
  assert.equal(run('{"inject_body_processor":{"token":"T","placeholder":"@@"},"no_auth":{}}', {}, 'x@@y').body?.toString(), 'xTy')
  assert.equal(run('{"inject_body_processor":{"token":"T"},"no_auth":{}}', { placeholder: '%%' }, '%%').body?.toString(), 'T')
})

test('multi_processor applies each in order: a body placeholder filled before an HMAC of the body is signed over the filled body', () => {
  const key = Buffer.from('k')
  const s = `{"multi_processor":[{"inject_body_processor":{"token":"T"}},{"inject_hmac_processor":{"key":"${key.toString('base64')}","hash":"sha256","dst":"X-Sig","fmt":"%x"}},{"inject_processor":{"token":"A"}}],"no_auth":{}}`
  const d = run(s, {}, 'v={{ACCESS_TOKEN}}')
  assert.equal(d.body?.toString(), 'v=T')
  assert.equal(d.get('x-sig'), createHmac('sha256', key).update('v=T').digest('hex'))
  assert.equal(d.get('authorization'), 'Bearer A')
})

test('sigv4 re-signs as AWS\'s own test suite expects (get-vanilla, get-vanilla-query-order-key-case)', () => {
  const s = '{"sigv4_processor":{"access_key":"AKIDEXAMPLE","secret_key":"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY","no_swap":true},"no_auth":{}}'
  const placeholder = ['X-Amz-Date', '20150830T123600Z', 'Authorization', 'AWS4-HMAC-SHA256 Credential=PLACEHOLDER/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=0']
  const step = buildProcessor(parseSecret(s).processor, {})
  const d = new Draft('GET', 'example.amazonaws.com', '/', placeholder)
  d.body = Buffer.alloc(0)
  step.apply(d)
  assert.equal(d.get('authorization'), 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31')
  const q = new Draft('GET', 'example.amazonaws.com', '/?Param2=value2&Param1=value1', placeholder)
  q.body = Buffer.alloc(0)
  step.apply(q)
  assert.match(q.get('authorization') ?? '', /Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500$/)
  assert.equal(q.path, '/?Param1=value1&Param2=value2')
  // Without no_swap, superfly swaps region and service (bug compatibility): the scope says so.
  const swapped = buildProcessor(parseSecret(s.replace('"no_swap":true', '"no_swap":false')).processor, {})
  const w = new Draft('GET', 'example.amazonaws.com', '/', placeholder)
  w.body = Buffer.alloc(0)
  swapped.apply(w)
  assert.match(w.get('authorization') ?? '', /Credential=AKIDEXAMPLE\/20150830\/service\/us-east-1\/aws4_request/)
  const none = new Draft('GET', 'example.amazonaws.com', '/', [])
  none.body = Buffer.alloc(0)
  assert.throws(() => step.apply(none), refused('tokenizer_bad_request'))
})

test('token-minting processors open but are refused as not run here', () => {
  assert.throws(() => run('{"jwt_processor":{"private_key":"","email":"x"},"no_auth":{}}'), refused('tokenizer_bad_secret'))
})
