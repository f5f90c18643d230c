// The per-layer router weights of one answer as a small bar chart (the paper's Figure 4).
// SVG attributes only: the CSP forbids inline styles.

const SVG = 'http://www.w3.org/2000/svg';

export function routerChart(weights: number[][], doc: Document = document): HTMLElement {
  const figure = doc.createElement('figure');
  figure.className = 'router-chart';
  const caption = doc.createElement('figcaption');
  caption.textContent = 'Router weights per LLaMA layer (expert 0 | expert 1)';
  figure.appendChild(caption);
  if (weights.length === 0) {
    const p = doc.createElement('p');
    p.textContent = 'No router weights were reported for this answer.';
    figure.appendChild(p);
    return figure;
  }
  const rowH = 14;
  const labelW = 28;
  const barW = 160;
  const svg = doc.createElementNS(SVG, 'svg');
  svg.setAttribute('width', String(labelW + barW + 44));
  svg.setAttribute('height', String(weights.length * rowH));
  svg.setAttribute('role', 'img');
  const summary = weights.map((w, i) => `layer ${i}: ${fmt(w[0])} / ${fmt(w[1])}`).join(', ');
  svg.setAttribute('aria-label', `Router weights, ${summary}`);
  weights.forEach((w, i) => {
    const y = i * rowH;
    const e0 = clamp01(w[0] ?? 0);
    const label = doc.createElementNS(SVG, 'text');
    label.setAttribute('x', '0');
    label.setAttribute('y', String(y + rowH - 3));
    label.setAttribute('class', 'router-label');
    label.textContent = `L${i}`;
    const bar0 = doc.createElementNS(SVG, 'rect');
    bar0.setAttribute('x', String(labelW));
    bar0.setAttribute('y', String(y + 2));
    bar0.setAttribute('width', String(Math.round(e0 * barW)));
    bar0.setAttribute('height', String(rowH - 4));
    bar0.setAttribute('class', 'router-e0');
    const bar1 = doc.createElementNS(SVG, 'rect');
    bar1.setAttribute('x', String(labelW + Math.round(e0 * barW)));
    bar1.setAttribute('y', String(y + 2));
    bar1.setAttribute('width', String(barW - Math.round(e0 * barW)));
    bar1.setAttribute('height', String(rowH - 4));
    bar1.setAttribute('class', 'router-e1');
    const value = doc.createElementNS(SVG, 'text');
    value.setAttribute('x', String(labelW + barW + 4));
    value.setAttribute('y', String(y + rowH - 3));
    value.setAttribute('class', 'router-label');
    value.textContent = fmt(w[0]);
    const title = doc.createElementNS(SVG, 'title');
    title.textContent = `layer ${i}: expert 0 ${fmt(w[0])}, expert 1 ${fmt(w[1])}`;
    bar0.appendChild(title);
    svg.append(label, bar0, bar1, value);
  });
  figure.appendChild(svg);
  return figure;
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}

function fmt(x: number | undefined): string {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(2) : '?';
}
