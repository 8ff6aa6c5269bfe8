// The live `mlserve top` screen (Ink): renders frame() from the snapshot stream; q quits,
// arrows select a deployment (its replicas show below), e shows more events.
import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { useState } from 'react';
import type { Snapshot } from '../../daemon/snapshot.js';
import { frame } from './view.js';

export interface TopProps {
  prev: Snapshot | null;
  cur: Snapshot | null;
  history: Map<string, number[]>;
  error?: string;
}

export function Top({ prev, cur, history, error }: TopProps) {
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [selected, setSelected] = useState(0);
  const [showEvents, setShowEvents] = useState(false);
  const count = cur?.deployments.length ?? 0;
  useInput((input, key) => {
    if (input === 'q' || (key.ctrl && input === 'c')) exit();
    else if (key.upArrow) setSelected((s) => Math.max(0, s - 1));
    else if (key.downArrow) setSelected((s) => Math.min(Math.max(0, count - 1), s + 1));
    else if (input === 'e') setShowEvents((v) => !v);
  });
  if (error) return <Text color="red">{error}</Text>;
  if (!cur) return <Text>connecting to the mlserve daemon…</Text>;
  const lines = frame(prev, cur, history, { width: stdout?.columns ?? 80, height: stdout?.rows ?? 24, selected, showEvents });
  return (
    <Box flexDirection="column">
      {lines.map((l, i) => (
        <Text key={i} bold={i === 0}>{l || ' '}</Text>
      ))}
    </Box>
  );
}
