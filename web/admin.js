// admin.js: the admin pages (being written).
import { h, clear } from './ui.js';
export function render(main) {
  clear(main, h('p', {}, 'The admin pages are not written yet.'));
}
