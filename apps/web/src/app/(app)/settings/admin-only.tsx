export function AdminOnly() {
  return (
    <div role="alert" className="rounded-lg border border-amber-200 bg-amber-50 p-4 text-sm text-amber-900">
      Only admins of this organization can open this page.
    </div>
  );
}
