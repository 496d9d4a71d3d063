// gray.js: placeholder while the page is written.
import { h, clear } from './ui.js';
export function render(body) {
  clear(body, h('p', {}, 'Coming soon.'));
}
