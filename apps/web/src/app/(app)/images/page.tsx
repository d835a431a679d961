import { FleetContent } from '~/components/dashboard/content';
import { FleetImages } from '~/components/dashboard/images';

export default function ImagesPage() {
  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-semibold">Images</h1>
        <p className="text-sm text-slate-600">
          The same image across hosts: where it is, what it weighs, where it runs.
        </p>
      </div>
      <FleetImages />
      <FleetContent />
    </div>
  );
}
