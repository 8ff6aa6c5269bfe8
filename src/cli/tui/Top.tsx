// The live `mlserve top` screen (Ink): renders frame() from the snapshot stream; q quits, arrows
// select a deployment (its replicas show below), e shows more events. The frame always fits the
// terminal (fewer lines than its height), so Ink redraws in place instead of clearing the screen.
import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { useState } from 'react';
import type { Snapshot } from '../../daemon/snapshot.js';
import { frame } from './view.js';

export interface TopProps {
  prev: Snapshot | null;
  cur: Snapshot | null;
  history: Map<string, number[]>;
  error?: string;
  /** A line above the frame: the daemon stopped or restarted, reconnecting. */
  notice?: string;
  /** The terminal's size (default: stdout's columns and rows). */
  size?: { columns: number; rows: number };
}

export function Top({ prev, cur, history, error, notice, size }: TopProps) {
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
  if (!cur) return <Text>{notice ?? 'connecting to the mlserve daemon…'}</Text>;
  const lines = frame(prev, cur, history, {
    width: size?.columns ?? stdout?.columns ?? 80, height: size?.rows ?? stdout?.rows ?? 24, selected, showEvents, notice,
  });
  return (
    <Box flexDirection="column">
      {lines.map((l, i) => (
        <Text key={i} bold={i === (notice ? 1 : 0)} color={notice && i === 0 ? 'yellow' : undefined}>{l || ' '}</Text>
      ))}
    </Box>
  );
}
