// The safe unpickler against pickles Python itself wrote (protocols 0, 1, 2, 4, 5), hostile pickles,
// and malformed ones.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { CheckpointError } from '../../../server/engine/weights/weightErrors';
import { PyObject, unpickle } from '../../../server/engine/weights/pickle';
import { collectTensors } from '../../../server/engine/weights/pth';
import { resolveTorchGlobal, StorageType, TorchDType } from '../../../server/engine/weights/torchPickle';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const FILE = '/models/evil/checkpoint.pth';
const load = (bytes: Uint8Array, torchScript = false): unknown =>
  unpickle(bytes, { file: FILE, member: 'archive/data.pkl', resolveGlobal: (m, n) => resolveTorchGlobal(m, n, { allowTorchScriptClasses: torchScript }) });

// Python: x=[7]; pickle.dumps({'a':[1,-2,300,70000,-70000,2**40,-2**70,1.5,True,False,None], 'b':(1,), 'c':(1,2),
//   'd':(1,2,3), 'e':(1,2,3,4), 'f':b'xyz', 'g':'h\u00e9llo \u2603', 'h':{1,2}, 'i':frozenset([3]), 's1':x, 's2':x,
//   'od':OrderedDict([('k',1),('j',2)]), 'ns':argparse.Namespace(temperature=10.0, name='x')}, protocol=P)
// (protocols 0 and 1 without 'ns': they pickle it through copy_reg._reconstructor, which torch never writes).
const PYTHON_PICKLES: Record<string, string> = {
  p0: '286470300a56610a70310a286c70320a49310a61492d320a61493330300a614937303030300a61492d37303030300a614c313039393531313632373737364c0a614c2d313138303539313632303731373431313330333432344c0a6146312e350a614930310a614930300a614e617356620a70330a2849310a7470340a7356630a70350a2849310a49320a7470360a7356640a70370a2849310a49320a49330a7470380a7356650a70390a2849310a49320a49330a49340a747031300a7356660a7031310a635f636f646563730a656e636f64650a7031320a285678797a0a7031330a566c6174696e310a7031340a747031350a527031360a7356670a7031370a5668e96c6c6f205c75323630330a7031380a7356680a7031390a635f5f6275696c74696e5f5f0a7365740a7032300a28286c7032310a49310a6149320a61747032320a527032330a7356690a7032340a635f5f6275696c74696e5f5f0a66726f7a656e7365740a7032350a28286c7032360a49330a61747032370a527032380a735673310a7032390a286c7033300a49370a61735673320a7033310a6733300a73566f640a7033320a63636f6c6c656374696f6e730a4f726465726564446963740a7033330a2874527033340a566b0a7033350a49310a73566a0a7033360a49320a73732e',
  p1: '7d71002858010000006171015d7102284b014afeffffff4d2c014a701101004a90eefeff4c313039393531313632373737364c0a4c2d313138303539313632303731373431313330333432344c0a473ff80000000000004930310a4930300a4e655801000000627103284b017471045801000000637105284b014b027471065801000000647107284b014b024b037471085801000000657109284b014b024b034b0474710a580100000066710b635f636f646563730a656e636f64650a710c28580300000078797a710d58060000006c6174696e31710e74710f5271105801000000677111580a00000068c3a96c6c6f20e2988371125801000000687113635f5f6275696c74696e5f5f0a7365740a7114285d7115284b014b02657471165271175801000000697118635f5f6275696c74696e5f5f0a66726f7a656e7365740a7119285d711a4b036174711b52711c58020000007331711d5d711e4b076158020000007332711f681e58020000006f64712063636f6c6c656374696f6e730a4f726465726564446963740a7121295271222858010000006b71234b0158010000006a71244b0275752e',
  p2: '80027d71002858010000006171015d7102284b014afeffffff4d2c014a701101004a90eefeff8a060000000000018a090000000000000000c0473ff800000000000088894e6558010000006271034b0185710458010000006371054b014b0286710658010000006471074b014b024b038771085801000000657109284b014b024b034b0474710a580100000066710b635f636f646563730a656e636f64650a710c580300000078797a710d58060000006c6174696e31710e86710f5271105801000000677111580a00000068c3a96c6c6f20e2988371125801000000687113635f5f6275696c74696e5f5f0a7365740a71145d7115284b014b02658571165271175801000000697118635f5f6275696c74696e5f5f0a66726f7a656e7365740a71195d711a4b036185711b52711c58020000007331711d5d711e4b076158020000007332711f681e58020000006f64712063636f6c6c656374696f6e730a4f726465726564446963740a7121295271222858010000006b71234b0158010000006a71244b027558020000006e7371256361726770617273650a4e616d6573706163650a7126298171277d712828580b00000074656d7065726174757265712947402400000000000058040000006e616d65712a580100000078712b7562752e',
  p4: '8004952a010000000000007d94288c0161945d94284b014afeffffff4d2c014a701101004a90eefeff8a060000000000018a090000000000000000c0473ff800000000000088894e658c0162944b0185948c0163944b014b0286948c0164944b014b024b0387948c016594284b014b024b034b0474948c016694430378797a948c0167948c0a68c3a96c6c6f20e29883948c0168948f94284b014b02908c016994284b0391948c027331945d944b07618c0273329468148c026f64948c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c016b944b018c016a944b02758c026e73948c086172677061727365948c094e616d6573706163659493942981947d94288c0b74656d7065726174757265944740240000000000008c046e616d65948c0178947562752e',
  p5: '8005952a010000000000007d94288c0161945d94284b014afeffffff4d2c014a701101004a90eefeff8a060000000000018a090000000000000000c0473ff800000000000088894e658c0162944b0185948c0163944b014b0286948c0164944b014b024b0387948c016594284b014b024b034b0474948c016694430378797a948c0167948c0a68c3a96c6c6f20e29883948c0168948f94284b014b02908c016994284b0391948c027331945d944b07618c0273329468148c026f64948c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c016b944b018c016a944b02758c026e73948c086172677061727365948c094e616d6573706163659493942981947d94288c0b74656d7065726174757265944740240000000000008c046e616d65948c0178947562752e',
};

for (const [proto, bytes] of Object.entries(PYTHON_PICKLES)) {
  test(`unpickles Python's own protocol ${proto.slice(1)} output`, () => {
    const v = load(hex(bytes));
    assert.ok(v instanceof Map);
    const d = v as Map<string, unknown>;
    assert.deepEqual(d.get('a'), [1, -2, 300, 70000, -70000, 2 ** 40, -(2n ** 70n), 1.5, true, false, null]);
    assert.deepEqual([...(d.get('b') as unknown[])], [1]);
    assert.ok(Object.isFrozen(d.get('c')), 'tuples are frozen arrays');
    assert.deepEqual([...(d.get('c') as unknown[])], [1, 2]);
    assert.deepEqual([...(d.get('d') as unknown[])], [1, 2, 3]);
    assert.deepEqual([...(d.get('e') as unknown[])], [1, 2, 3, 4]);
    assert.deepEqual([...(d.get('f') as Uint8Array)], [0x78, 0x79, 0x7a]);
    assert.equal(d.get('g'), 'h\u00e9llo \u2603');
    assert.deepEqual([...(d.get('h') as Set<number>)].sort(), [1, 2]);
    assert.deepEqual([...(d.get('i') as Set<number>)], [3]);
    assert.deepEqual(d.get('s1'), [7]);
    assert.equal(d.get('s1'), d.get('s2'), 'memo keeps shared references shared');
    assert.deepEqual([...(d.get('od') as Map<string, number>)], [['k', 1], ['j', 2]]);
    if (d.has('ns')) {
      const ns = d.get('ns');
      assert.ok(ns instanceof PyObject);
      assert.equal(ns.className, 'argparse.Namespace');
      assert.deepEqual({ ...ns.attrs }, { temperature: 10, name: 'x' });
    } else {
      assert.ok(proto === 'p0' || proto === 'p1');
    }
  });
}

// Python: pickle.dumps(obj) where obj.__reduce__ returns (os.system, ('touch /tmp/pwned',)) — protocol 2 writes
// it as posix.system; (eval, ('1+1',)) at protocol 4 (STACK_GLOBAL); (subprocess.Popen, (['id'],)) at protocol 2.
const HOSTILE: Array<[string, string, string]> = [
  ['posix.system', '800263706f7369780a73797374656d0a71005810000000746f756368202f746d702f70776e656471018571025271032e', 'os.system'],
  ['builtins.eval', '8004951f000000000000008c086275696c74696e73948c046576616c9493948c03312b3194859452942e', 'builtins.eval'],
  ['commands.Popen', '800263636f6d6d616e64730a506f70656e0a71005d7101580200000069647102618571035271042e', 'subprocess.Popen'],
];

for (const [global, bytes, what] of HOSTILE) {
  test(`refuses ${what} (pickled as ${global}) and names file and global`, () => {
    assert.throws(() => load(hex(bytes)), (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      assert.equal(e.file, FILE);
      assert.match(e.message, new RegExp(`^evil/checkpoint\\.pth: archive/data\\.pkl: forbidden pickle global ${global.replace('.', '\\.')}`));
      assert.match(e.message, /nothing was executed/);
      return true;
    });
  });
}

test('refuses at GLOBAL time: a forbidden global followed by garbage still reports the global', () => {
  const enc = new TextEncoder();
  const bytes = Uint8Array.from([0x80, 2, 0x63, ...enc.encode('os\nsystem\n'), 0xff, 0xff]);
  assert.throws(() => load(bytes), /forbidden pickle global os\.system/);
  const sub = Uint8Array.from([0x80, 2, 0x63, ...enc.encode('subprocess\ncheck_output\n')]);
  assert.throws(() => load(sub), /forbidden pickle global subprocess\.check_output/);
});

test('allow-list is by exact name: near misses are refused', () => {
  for (const [m, n] of [['torch', 'load'], ['torch._utils', '_rebuild_from_type'], ['collections', 'defaultdict'], ['argparse', 'ArgumentParser'], ['torch', 'Storage_exec'], ['builtins', 'getattr']]) {
    assert.equal(resolveTorchGlobal(m, n), undefined, `${m}.${n}`);
  }
  assert.ok(resolveTorchGlobal('torch', 'HalfStorage') instanceof StorageType);
  assert.ok(resolveTorchGlobal('torch', 'bfloat16') instanceof TorchDType);
});

test('__torch__ classes are inert records only in TorchScript archives', () => {
  const enc = new TextEncoder();
  // GLOBAL __torch__.Mod Mod, EMPTY_TUPLE, NEWOBJ, EMPTY_DICT, MARK 'w' 1 SETITEMS, BUILD, STOP
  const bytes = Uint8Array.from([0x80, 2, 0x63, ...enc.encode('__torch__.model\nMod\n'), 0x29, 0x81, 0x7d, 0x28, 0x8c, 1, 0x77, 0x4b, 1, 0x75, 0x62, 0x2e]);
  assert.throws(() => load(bytes, false), /forbidden pickle global __torch__\.model\.Mod/);
  const obj = load(bytes, true);
  assert.ok(obj instanceof PyObject);
  assert.equal(obj.className, '__torch__.model.Mod');
  assert.equal(obj.attrs.w, 1);
});

test('allowed values that are not callables cannot be called', () => {
  const enc = new TextEncoder();
  const callDType = Uint8Array.from([0x80, 2, 0x63, ...enc.encode('torch\nfloat16\n'), 0x29, 0x52, 0x2e]);
  assert.throws(() => load(callDType), /tries to call a/);
  const reduceNamespace = Uint8Array.from([0x80, 2, 0x63, ...enc.encode('argparse\nNamespace\n'), 0x29, 0x52, 0x2e]);
  assert.throws(() => load(reduceNamespace), /tries to call argparse\.Namespace/);
});

test('malformed pickles fail with a CheckpointError, not a crash', () => {
  const cases: Array<[number[], RegExp]> = [
    [[0x80, 2, 0x4b], /ends early/], // BININT1 without its byte
    [[0x80, 2, 0x7d], /ends early/], // no STOP
    [[0x80, 2, 0x30, 0x2e], /underflow/], // POP on empty stack
    [[0x80, 2, 0x68, 5, 0x2e], /memo 5 is not set/],
    [[0x80, 2, 0xfe], /unknown pickle opcode 0xfe/],
    [[0x80, 9], /protocol 9/],
    [[0x80, 2, 0x4b, 1, 0x4b, 2, 0x2e], /STOP with 2 values/],
    [[0x80, 2, 0x29, 0x4b, 1, 0x61, 0x2e], /APPEND\(S\) on a tuple/],
    [[0x80, 2, 0x5d, 0x4b, 1, 0x4b, 2, 0x73, 0x2e], /SETITEM\(S\) on a list/],
    [[0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f], /ends early/], // BINUNICODE claiming 2 GB
    [[0x80, 2, 0x4b, 1, 0x51, 0x2e], /persistent id but this file type allows none/],
    [[0x80, 2, 0x82, 1], /extension registry/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(() => load(Uint8Array.from(bytes)), (e: unknown) => e instanceof CheckpointError && re.test(e.message), `${Buffer.from(bytes).toString('hex')} -> ${re}`);
  }
});

test('deeply nested pickles neither crash the unpickler nor the tensor walk', () => {
  const depth = 100_000;
  const bytes = new Uint8Array(2 + depth + (depth - 1) + 1);
  bytes.set([0x80, 2]);
  bytes.fill(0x5d, 2, 2 + depth); // EMPTY_LIST x depth
  bytes.fill(0x61, 2 + depth, 2 + depth + depth - 1); // APPEND: each list into the one below it
  bytes[bytes.length - 1] = 0x2e;
  const v = load(bytes);
  assert.ok(Array.isArray(v));
  assert.equal(collectTensors(v).size, 0);
});
