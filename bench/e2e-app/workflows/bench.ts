// The end-to-end benchmark's workflows: S sequential steps, and N parallel steps (fan-out).
// The step does no work of its own, so what is measured is the runtime and the World.

async function add(a: number, b: number): Promise<number> {
  'use step';
  return a + b;
}

export async function sequential(steps: number): Promise<number> {
  'use workflow';
  let total = 0;
  for (let i = 0; i < steps; i++) total = await add(total, 1);
  return total;
}

export async function fanout(width: number): Promise<number> {
  'use workflow';
  const results = await Promise.all(Array.from({ length: width }, (_, i) => add(i, 1)));
  return results.length;
}
