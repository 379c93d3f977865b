/** `EDGE_PATHWAYS` (HLS Content Steering Pathways shared by the API and the edges): parsing and its refusals. */
import { describe, expect, it } from 'vitest';
import { parseEdgePathways } from '../src/pathways.js';

describe('parseEdgePathways', () => {
  it('keeps the order and normalises URLs to origins', () => {
    expect(parseEdgePathways(['edge-1=https://e1.example.com/', 'edge_2=http://10.0.0.6:8081', 'e.3= https://e3.example.com:8443 '])).toEqual([
      { id: 'edge-1', url: 'https://e1.example.com' },
      { id: 'edge_2', url: 'http://10.0.0.6:8081' },
      { id: 'e.3', url: 'https://e3.example.com:8443' },
    ]);
    expect(parseEdgePathways([])).toEqual([]);
  });

  it.each([
    ['no equals sign', ['http://a:1'], /expected <pathwayId>=<url>/],
    ['a bad id', ['a b=http://a:1'], /pathway id/],
    ['not a URL', ['a=nope'], /not a URL/],
    ['not http', ['a=ftp://a:1'], /http or https/],
    ['a path', ['a=http://a:1/edge'], /origin/],
    ['a query', ['a=http://a:1/?x=1'], /origin/],
    ['credentials', ['a=http://u:p@a:1'], /origin/],
    ['a duplicate id', ['a=http://a:1', 'a=http://b:1'], /appears twice/],
  ])('refuses %s', (_what, items, message) => {
    expect(() => parseEdgePathways(items)).toThrow(message);
  });
});
