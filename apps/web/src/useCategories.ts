/** `GET /api/categories`, loaded once per page load and shared by every component. */
import { useEffect, useState } from 'react';
import { callApi, errorMessage } from './api';
import { parseCategories, type Category } from './platform';

let cache: Promise<Category[]> | null = null;

/** The categories (cached; a failed load is retried by the next caller). */
export function loadCategories(): Promise<Category[]> {
  cache ??= callApi('/api/categories')
    .then(parseCategories)
    .catch((err: unknown) => {
      cache = null;
      throw err;
    });
  return cache;
}

/** The categories, null until loaded; `error` when the load failed. */
export function useCategories(): { readonly categories: readonly Category[] | null; readonly error: string | null } {
  const [state, setState] = useState<{ categories: readonly Category[] | null; error: string | null }>({ categories: null, error: null });
  useEffect(() => {
    let live = true;
    loadCategories().then(
      (categories) => live && setState({ categories, error: null }),
      (err: unknown) => live && setState({ categories: null, error: errorMessage(err) }),
    );
    return () => {
      live = false;
    };
  }, []);
  return state;
}
