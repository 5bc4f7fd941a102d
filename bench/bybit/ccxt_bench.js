// ccxt's side of bench/bybit: the same frames through ccxt pro's Bybit WebSocket
// handlers (handleOrderBook / handleTicker / handleTrades), which keep the order book,
// merge ticker deltas and cache trades exactly as ccxt does live. The timed work starts
// from the frame's text, like Kestrel's decode: JSON.parse + the handler. Markets come
// from the capture's instruments-info bodies (no network), so symbols resolve as live.
//
// usage: node ccxt_bench.js FRAMES [SECONDS]
'use strict';
const fs = require('fs');
const ccxt = require('ccxt'); // from bench/bybit/node_modules

async function main() {
    const file = process.argv[2];
    const seconds = Number(process.argv[3] || 2);
    const msgs = [];
    const bodies = {};
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        if (line.length < 3) continue;
        const kind = line.slice(0, 2).trim();
        if (kind === 'IL') bodies.linear = JSON.parse(line.slice(3));
        else if (kind === 'IS') bodies.spot = JSON.parse(line.slice(3));
        else msgs.push({ kind: line[0], text: line.slice(2) });
    }
    const ex = new ccxt.pro.bybit({ options: { fetchMarkets: { types: ['linear'] } } });
    ex.has['fetchCurrencies'] = false;
    const empty = (cat) => ({ retCode: 0, retMsg: 'OK', result: { category: cat, list: [], nextPageCursor: '' }, time: 0 });
    ex.publicGetV5MarketInstrumentsInfo = async (p) =>
        (p.status === 'PreLaunch' || p.cursor ? empty(p.category) : bodies[p.category] || empty(p.category));
    await ex.loadMarkets();
    const client = { url: 'wss://stream.bybit.com/v5/public/linear', resolve() {}, reject() {} };
    const handlers = { S: 'handleOrderBook', D: 'handleOrderBook', T: 'handleTicker', R: 'handleTrades' };

    // JSON.parse + handler per frame, timed from the text, like Kestrel's decode.
    function bench(kind, prep) {
        let timed = 0n, done = 0, perPass = 0;
        for (const m of msgs) if (m.kind === kind) perPass++;
        for (let pass = 0; Number(timed) / 1e9 < seconds || pass < 2; pass++) {
            let t0 = 0n, timing = false;
            for (const m of msgs) {
                if (m.kind === prep) {
                    if (timing) { timed += process.hrtime.bigint() - t0; timing = false; }
                    ex[handlers[m.kind]](client, JSON.parse(m.text));
                } else if (m.kind === kind) {
                    if (!timing && pass > 0) { t0 = process.hrtime.bigint(); timing = true; }
                    ex[handlers[kind]](client, JSON.parse(m.text));
                    if (pass > 0) done++;
                }
            }
            if (timing) timed += process.hrtime.bigint() - t0;
        }
        return { us: Number(timed) / 1e3 / done, perPass };
    }
    // JSON.parse alone over the same frames (to see how much of the above it is).
    function parseOnly(kind) {
        const list = msgs.filter((m) => m.kind === kind);
        let n = 0, sink = 0;
        const t0 = process.hrtime.bigint();
        while (Number(process.hrtime.bigint() - t0) / 1e9 < seconds / 2)
            for (const m of list) { sink += JSON.parse(m.text).ts ? 1 : 0; n++; }
        return Number(process.hrtime.bigint() - t0) / 1e3 / n + (sink < 0 ? 1 : 0);
    }
    const d = bench('D', 'S'), t = bench('T', null), r = bench('R', null);
    const pd = parseOnly('D'), pt = parseOnly('T'), pr = parseOnly('R');
    const v = ccxt.version;
    console.log(`ccxt ${v} book delta: ${d.us.toFixed(3)} us/msg (JSON.parse alone ${pd.toFixed(3)}; ${d.perPass} per pass)`);
    console.log(`ccxt ${v} ticker:     ${t.us.toFixed(3)} us/msg (JSON.parse alone ${pt.toFixed(3)}; ${t.perPass} per pass)`);
    console.log(`ccxt ${v} trade:      ${r.us.toFixed(3)} us/msg (JSON.parse alone ${pr.toFixed(3)}; ${r.perPass} per pass)`);
    console.log(JSON.stringify({ impl: 'ccxt', version: v, book_delta_us: d.us, ticker_us: t.us, trade_us: r.us,
                                 parse_only_us: { book_delta: pd, ticker: pt, trade: pr } }));
}

main().catch((e) => { console.error('ccxt bench failed:', e && e.message ? e.message : e); process.exit(1); });
